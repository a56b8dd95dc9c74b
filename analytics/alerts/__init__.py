"""Alert rules: evaluation as data arrives (evaluation.py, subscribed in receivers.py), the rules' and
notifications' writes (services.py), their live pushes (notify.py) and REST API (api.py)."""
