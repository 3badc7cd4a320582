"""The floor: a hello-world Flask endpoint (and /healthz so the runner sees it is up)."""
from flask import Flask

app = Flask(__name__)


@app.route("/")
@app.route("/healthz")
def hello():
    return "Hello, World!"
