"""Casset Rights."""
