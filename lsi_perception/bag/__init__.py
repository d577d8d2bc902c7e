"""rosbag2 tools over rosbags and rclpy: reading and writing bags, playing them (``lsi bag play``),
recording topics, turning a dataset into a bag (``from_dataset``) and running the per-pair pipeline over
a bag (``detect``, ``lsi bag detect``)."""
