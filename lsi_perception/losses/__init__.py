"""lsi_perception.losses"""
