"""The halt after too many failed trials names the real cause: the first failed trial's stderr where NNI 3.0
writes it, or where to find it when it is not on this machine."""
import json

from nni.runtime.tuner_command_channel import CommandType as C

from hyperjump_advisor import HyperJump
from hyperjump_advisor.inprocess import build_offline, trial_end_message
from hyperjump_advisor.records import Records

SPACE = {"x": {"_type": "uniform", "_value": [0.0, 1.0]}}


def halt_after_failures(experiment, failures=3):
    log = experiment / "log"
    log.mkdir(parents=True)
    advisor = build_offline(HyperJump, R=9, eta=3, seed=0, max_consecutive_failures=failures)
    advisor.records = Records(str(log))
    advisor.process_command(C.Initialize, SPACE)
    advisor.process_command(C.RequestTrialJobs, 1)
    for k in range(failures):
        trial = [s.data for s in advisor.sent if s.name == "NewTrialJob"][k]
        advisor.process_command(C.TrialEnd, trial_end_message(f"job{k}", "FAILED", trial))
        advisor.process_command(C.RequestTrialJobs, 1)
    halted = [json.loads(line) for line in open(log / "hyperjump-audit.jsonl") if '"halted"' in line]
    assert len(halted) == 1
    return halted[0]["reason"], advisor


def test_the_halt_quotes_the_local_services_trial_stderr(tmp_path):
    trial_folder = tmp_path / "environments" / "local-env" / "trials" / "job0"
    trial_folder.mkdir(parents=True)
    (trial_folder / "trial.stderr").write_text("Traceback (most recent call last):\n  File \"trial.py\", line 9\n"
                                               "ModuleNotFoundError: No module named 'nonexistent_module'\n")
    reason, advisor = halt_after_failures(tmp_path)
    assert "trial job0 (parameter 0" in reason and "ended as FAILED" in reason
    assert "The trial process itself failed" in reason and "report_final_result" not in reason
    assert f"Its stderr ({trial_folder / 'trial.stderr'}) ends with:" in reason
    assert reason.rstrip().endswith("ModuleNotFoundError: No module named 'nonexistent_module'")
    assert any(s.name == "NoMoreTrialJobs" for s in advisor.sent)


def test_without_the_stderr_here_the_halt_says_where_it_is(tmp_path):
    reason, _ = halt_after_failures(tmp_path)
    assert "Its stderr is not on this machine" in reason and "trials/job0/trial.stderr" in reason


def test_an_empty_stderr_is_not_quoted(tmp_path):
    trial_folder = tmp_path / "environments" / "local-env" / "trials" / "job0"
    trial_folder.mkdir(parents=True)
    (trial_folder / "trial.stderr").write_text("")
    reason, _ = halt_after_failures(tmp_path)
    assert "stderr" not in reason.split("its error is in its stderr.")[1]
