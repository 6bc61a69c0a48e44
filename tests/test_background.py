"""Slow work off the command path (issue 20): under NNI the model's refits run on a worker thread and are
adopted when their REFIT_DONE command is processed; until then the last good hyperparameters serve."""
import threading

import numpy as np
from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.background import REFIT_DONE, Worker
from hyperjump_advisor.inprocess import build_offline, metric_message, trial_end_message
from hyperjump_advisor.model import MultiFidelityGP
from hyperjump_advisor.model.kernel import budget_feature
from hyperjump_advisor.model.posterior import GPPosterior

SPACE = {k: {"_type": "uniform", "_value": [0.0, 1.0]} for k in "abc"}


def observations(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    b = rng.choice([1 / 9, 1 / 3, 1.0], n)
    y = (X[:, 0] - 0.3) ** 2 + 0.2 * X[:, 1] + 0.3 * (1 - b) + 0.01 * rng.standard_normal(n)
    return X, b, y


def same(h1, h2) -> bool:
    return np.array_equal(h1.lengthscale, h2.lengthscale) and (
        h1.matern_variance, h1.bias_variance, h1.linear_variance, h1.noise_variance) == (
        h2.matern_variance, h2.bias_variance, h2.linear_variance, h2.noise_variance)


def test_a_refit_handed_off_is_adopted_only_when_its_completion_is_processed():
    gp = MultiFidelityGP(3, 5, seed=0)
    jobs = []
    gp.background = jobs.append
    X, b, y = observations(60, 1)
    gp.add_observations(X[:10], b[:10], y[:10])
    gp.fit()  # the first fit runs at once: there is no model before it
    first = gp.hyper
    assert first is not None and not jobs
    k = 10
    while not jobs:  # more points until the refit policy starts a refit: handed off, not run
        gp.add_observations(X[k:k + 1], b[k:k + 1], y[k:k + 1])
        gp.predict(X[:3], 1.0)
        k += 1
    assert same(gp.hyper, first), "the command path keeps the last good hyperparameters"
    job = jobs.pop()
    job.step()  # the worker runs it to its end
    gp.add_observations(X[k:k + 1], b[k:k + 1], y[k:k + 1])
    gp.predict(X[:3], 1.0)
    assert same(gp.hyper, first), "finished, but its completion was not processed yet"
    gp.refit_finished(job)
    gp.predict(X[:3], 1.0)
    assert same(gp.hyper, job.result()) and not same(gp.hyper, first)


def test_decisions_are_the_same_for_the_same_order_of_commands_and_completions():
    def play():
        advisor = build_offline(HyperJump, R=9, eta=3, seed=4, exec_mode="async")
        now = [0.0]   # the same trial durations in both plays (learned_brackets reads them)
        advisor.use_trial_clock(lambda: now[0])
        advisor.process_command(C.Initialize, SPACE)
        jobs = []
        advisor.engine.evidence.model.background = jobs.append
        advisor.process_command(C.RequestTrialJobs, 4)
        sent = 0
        for step in range(30):
            trials = [s.data for s in advisor.sent if s.name == "NewTrialJob"]
            t = trials[step]
            x = t["parameters"]
            value = (x["a"] - 0.3) ** 2 + 0.1 * x["b"] + 0.2 / x["TRIAL_BUDGET"]
            now[0] += 5.0 * x["TRIAL_BUDGET"]
            advisor.process_command(C.ReportMetricData, metric_message(t["parameter_id"], f"j{step}", value))
            advisor.process_command(C.TrialEnd, trial_end_message(f"j{step}", "SUCCEEDED", t))
            advisor.process_command(C.RequestTrialJobs, 1)
            if jobs and step % 3 == 0:  # the worker finished: its completion comes between two commands
                job = jobs.pop(0)
                job.step()
                advisor.process_command(REFIT_DONE, job)
                sent += 1
        return [s.data for s in advisor.sent if s.name == "NewTrialJob"], sent

    first, completions = play()
    again, _ = play()
    assert completions > 0, "refits went to the background"
    assert first == again


def test_the_worker_runs_a_job_and_announces_it_through_the_command_queue():
    queued = []
    arrived = threading.Event()

    class Job:
        ran = False

        def step(self):
            Job.ran = True

    def put(item):
        queued.append(item)
        arrived.set()

    worker = Worker(put)
    worker.start()
    job = Job()
    worker.submit(job)
    assert arrived.wait(30)
    worker.stop()
    assert Job.ran and queued == [(REFIT_DONE, job)] and not worker.running


def test_under_nni_the_advisor_hands_refits_to_its_worker_and_processes_their_completion():
    advisor = build_offline(HyperJump, R=9, eta=3, seed=1)
    advisor.own_clock = True  # as under NNI
    try:
        advisor.process_command(C.Initialize, SPACE)
        assert advisor.engine.evidence.model.background == advisor._worker.submit
        assert advisor._worker.running
    finally:
        advisor._stop_clock()
    assert not advisor._worker.running
    in_process = build_offline(HyperJump, R=9, eta=3, seed=1)
    in_process.process_command(C.Initialize, SPACE)
    assert in_process.engine.evidence.model.background is None, "in-process drivers refit inline"


def test_with_a_worker_the_first_fit_runs_off_the_command_path_and_the_model_is_not_used_before_it_lands():
    gp = MultiFidelityGP(3, 5, seed=0)
    jobs = []
    gp.background = jobs.append
    X, b, y = observations(12, 2)
    gp.add_observations(X[:4], b[:4], y[:4])
    assert not gp.ready and not jobs, "below min_observations: no model, nothing started"
    gp.add_observations(X[4:10], b[4:10], y[4:10])
    assert not gp.ready, "enough points, but the first fit has not landed"
    assert len(jobs) == 1 and gp.hyper is None
    assert not gp.ready and len(jobs) == 1, "asked again: the same job, not another"
    job = jobs.pop()
    job.step()
    gp.add_observations(X[10:], b[10:], y[10:])  # arrives while the worker ran
    assert not gp.ready, "finished, but its completion was not processed yet"
    gp.refit_finished(job)
    assert gp.ready
    mean, std = gp.predict(X[:3], 1.0)
    assert same(gp.hyper, job.result()) and np.all(np.isfinite(mean)) and np.all(std > 0)
    assert gp.n_observations == 12 and gp.store.active.size == 12, "the points added meanwhile are in the posterior"


def with_worker_and_first_fit(gp, X, b, y, n=10):
    """``gp`` with a worker (its jobs in the list returned), fitted by the worker on the first n points."""
    jobs = []
    gp.background = jobs.append
    gp.add_observations(X[:n], b[:n], y[:n])
    assert not gp.ready
    jobs.pop().step()
    gp.refit_finished(gp._refit)
    return jobs


def inline_predictions(gp, X):
    """What a posterior conditioned from scratch on the model's active points, same hyperparameters, predicts."""
    active = gp.store.active
    fresh = GPPosterior(gp.hyper, gp.store.inputs(active), budget_feature(gp.store.budgets(active)),
                        gp._active_losses())
    return fresh.predict(X, budget_feature(np.ones(len(X))))


def test_a_refit_factorised_on_the_worker_equals_conditioning_on_every_point_at_once():
    gp = MultiFidelityGP(3, 5, seed=0)
    X, b, y = observations(80, 3)
    jobs = with_worker_and_first_fit(gp, X, b, y)
    k = 10
    while not jobs:
        gp.add_observations(X[k:k + 1], b[k:k + 1], y[k:k + 1])
        gp.predict(X[:3], 1.0)
        k += 1
    job = jobs.pop()
    job.step()
    gp.add_observations(X[k:k + 3], b[k:k + 3], y[k:k + 3])  # arrive while the worker ran
    factorisations = gp.n_full_factorisations
    gp.refit_finished(job)
    mean, std = gp.predict(X[40:50], 1.0)
    assert gp.n_full_factorisations == factorisations, "adopted without a factorisation on the command path"
    assert gp.store.active.size == k + 3
    fresh_mean, fresh_std = inline_predictions(gp, X[40:50])
    np.testing.assert_allclose(mean, fresh_mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(std, fresh_std, rtol=1e-7, atol=1e-9)


def test_past_the_trim_slack_the_rebuild_runs_on_the_worker_and_the_trim_lands_with_it():
    gp = MultiFidelityGP(3, 5, seed=0, max_points=30, trim_slack=5, refit_growth=100.0)
    X, b, y = observations(60, 4)
    jobs = with_worker_and_first_fit(gp, X, b, y)
    gp.predict(X[:2], 1.0)
    factorisations = gp.n_full_factorisations
    for k in range(10, 40):   # to 40 points: past 30 + 5
        gp.add_observations(X[k:k + 1], b[k:k + 1], y[k:k + 1])
        gp.predict(X[:2], 1.0)
    assert len(jobs) == 1, "one rebuild handed off"
    assert gp.store.active.size == 40 and gp.n_full_factorisations == factorisations, "no trim inline"
    job = jobs.pop()
    job.step()
    gp.add_observations(X[40:42], b[40:42], y[40:42])
    gp.refit_finished(job)
    mean, std = gp.predict(X[50:55], 1.0)
    assert gp.n_full_factorisations == factorisations
    assert job.ids.size == 30 and job.dropped.size == 6, "handed off at 36 points, trimmed to 30"
    assert gp.store.active.size == 30 + 6, "the snapshot's 30, and the six points added since it was taken"
    fresh_mean, fresh_std = inline_predictions(gp, X[50:55])
    np.testing.assert_allclose(mean, fresh_mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(std, fresh_std, rtol=1e-7, atol=1e-9)
