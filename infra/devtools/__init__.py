"""The sandbox destinations and the demo: tools for developers and demos, not part of a
production deployment."""
