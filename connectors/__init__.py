"""I/O at the edges: destination clients and the schema registry client."""
