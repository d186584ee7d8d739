"""Training: the action models on UCF50-layout videos, and classifier fine-tuning on image folders."""
