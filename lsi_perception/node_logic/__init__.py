"""The ``lsi_detector`` node's decisions without ROS: its parameters (``node_config``), what /diagnostics
says (``health``, ``monitor``, ``diagnostics``, ``stats``), the latest-pair-wins queue (``worker_queue``)
and what the launch file starts (``launch_plan``)."""
