"""The rclpy side of a robot: a lifecycle node that is a thin translator around `Robot`.

Importing this package does not import rclpy; `robots.ros.node` and `robots.ros.convert` do, so
only code that runs under ROS 2 touches them (install with `pip install -e .[ros]`).
"""
