"""Quick start: an NNI trial for the HyperJump advisor (a linear SGD classifier on scikit-learn's digits).

HyperJump sends the hyperparameters plus TRIAL_BUDGET (here: epochs) and, for pause-resume,
HYPERJUMP_CONFIG_KEY; a configuration promoted to a larger budget resumes from its checkpoint.
"""
import json

import nni
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

from hyperjump_advisor.trial import Checkpoint, hyperparameters

STANDALONE_PARAMS = {"alpha": 1e-4, "eta0": 0.01, "TRIAL_BUDGET": 3}  # `python trial.py` outside NNI


def load_data():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def run(params, report_intermediate, report_final, checkpoint_folder=None):
    """Train up to TRIAL_BUDGET epochs, continuing from this configuration's latest checkpoint."""
    X_train, X_val, y_train, y_val = load_data()
    checkpoint = Checkpoint.for_trial(params, folder=checkpoint_folder)
    start, model = checkpoint.load()                 # (0, None): first time for this configuration
    if model is None:
        hp = hyperparameters(params)                 # without TRIAL_BUDGET and the HYPERJUMP_* keys
        model = SGDClassifier(alpha=hp["alpha"], eta0=hp["eta0"], learning_rate="constant", random_state=0)
    accuracy = model.score(X_val, y_val) if start else None
    for epoch in range(start + 1, int(params["TRIAL_BUDGET"]) + 1):
        model.partial_fit(X_train, y_train, classes=list(range(10)))   # one epoch
        accuracy = model.score(X_val, y_val)
        checkpoint.save(epoch, model)               # a killed trial loses at most one epoch
        report_intermediate({"default": accuracy, "budget": epoch})   # budget: which epoch this is
    report_final(accuracy)
    return start, accuracy


if __name__ == "__main__":
    params = nni.get_next_parameter() or STANDALONE_PARAMS
    print("hyperjump-quickstart parameters:", json.dumps(params, sort_keys=True))  # check the web UI against this
    start, accuracy = run(params, nni.report_intermediate_result, nni.report_final_result)
    print(f"epochs {start + 1}..{params['TRIAL_BUDGET']} trained, validation accuracy {accuracy:.4f}")
