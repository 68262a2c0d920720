"""Cross-framework checks (optional extra ``crosscheck``: PyTorch and JAX, CPU, float64).

Each test records the worst normwise relative error ``‖got − want‖_∞ / ‖want‖_∞`` it saw
per framework and quantity; the table is printed at the end of the run.
"""
import pytest

WORST = {}


def record(framework: str, quantity: str, rel: float, where: str) -> None:
    key = (framework, quantity)
    if rel >= WORST.get(key, (-1.0, ""))[0]:
        WORST[key] = (rel, where)


@pytest.fixture
def recorder():
    return record


def pytest_terminal_summary(terminalreporter):
    if not WORST:
        return
    terminalreporter.section("crosscheck: worst disagreement with refimpl")
    for (fw, q), (rel, where) in sorted(WORST.items()):
        terminalreporter.write_line(f"{fw:<14} {q:<16} max rel error {rel:.2e}  ({where})")
