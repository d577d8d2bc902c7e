"""lsi_perception.ros"""
