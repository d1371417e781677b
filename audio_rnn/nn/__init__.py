"""Numpy building blocks shared by the capabilities' torch-free inference: the one recurrence (`recurrence`)."""
