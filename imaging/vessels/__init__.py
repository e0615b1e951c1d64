"""Vessel centrelines and networks from segmentations (for haemodynamics: :mod:`simulation.flow`)."""
