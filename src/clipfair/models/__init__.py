"""Models: the backbone factory (one entry point for every library) and the demo CLIP trainer."""
