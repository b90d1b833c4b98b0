"""Helpers of the imaging robot's missions: procedures and technique chart, retake and dose
policy, OpenCV image-quality metrics, positioning from the room camera, and the worklist."""
