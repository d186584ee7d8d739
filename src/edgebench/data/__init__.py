"""Data: the UCF50 video loader, image folders, and synthetic data generators."""
