"""lsi_perception.eval"""
