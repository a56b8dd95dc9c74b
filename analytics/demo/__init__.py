"""The demo: the order stream and collaborator inside the embedded server (stream.py) and the
simulated shop both it and `manage.py simulate_orders` draw from (simulation.py)."""
