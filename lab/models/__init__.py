"""The networks, written the book's way: readable, layer by layer."""
