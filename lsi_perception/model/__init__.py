"""lsi_perception.model"""
