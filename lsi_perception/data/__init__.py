"""lsi_perception.data"""
