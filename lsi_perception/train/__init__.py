"""lsi_perception.train"""
