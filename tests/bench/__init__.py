"""Tests of the harness stage; what they share."""
import textwrap

#: a model file whose forward (outside export and compilation) misbehaves after 25 items, as
#: EDGEBENCH_TEST_MODE says: "kill" SIGKILLs its process, "hang" sleeps, "kill-once" SIGKILLs the
#: first process to get there while the file EDGEBENCH_TEST_CRASH_ONCE exists, removing it
CRASHER = textwrap.dedent('''
    import os, signal, time
    import torch
    INPUT_SHAPE = (3, 8, 8)
    CALLS = [0]

    class M(torch.nn.Module):
        def __init__(self, num_classes=2):
            super().__init__()
            self.fc = torch.nn.Linear(192, num_classes)

        def forward(self, x):
            if not torch.compiler.is_compiling() and not torch.onnx.is_in_onnx_export():
                CALLS[0] += x.shape[0]  # items, not calls: the accuracy check runs many items a call
                if os.environ.get("EDGEBENCH_TEST_MODE") == "kill" and CALLS[0] > 25:
                    os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
                if os.environ.get("EDGEBENCH_TEST_MODE") == "hang" and CALLS[0] > 25:
                    time.sleep(600)
                once = os.environ.get("EDGEBENCH_TEST_CRASH_ONCE")  # a marker file: the first worker past it dies
                if os.environ.get("EDGEBENCH_TEST_MODE") == "kill-once" and CALLS[0] > 25 and os.path.exists(once):
                    os.remove(once)
                    os.kill(os.getpid(), signal.SIGKILL)
            return self.fc(x.flatten(1))

    def make(num_classes=2):
        return M(num_classes)
''')


def crasher(tmp_path, monkeypatch, mode: str) -> tuple:
    """CRASHER written to tmp_path in `mode` ("kill", "hang" or "kill-once"): (its model spec
    "FILE:make", the kill-once marker file, present until the first worker dies)."""
    f = tmp_path / "crasher.py"
    f.write_text(CRASHER)
    marker = tmp_path / "crash-once"
    marker.write_text("")
    monkeypatch.setenv("EDGEBENCH_TEST_MODE", mode)
    monkeypatch.setenv("EDGEBENCH_TEST_CRASH_ONCE", str(marker))
    return f"{f}:make", marker
