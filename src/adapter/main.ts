// entry point; filled in by its layer
