import pytest

from edgebench.bench.energy import BOARD_RAILS, EnergyProbe, board_power, board_watts, parse_tegrastats

# documented tegrastats lines: Jetson Nano (L4T 32.x) and AGX Orin (L4T 35.x)
NANO = ("RAM 2148/3956MB (lfb 1x512kB) SWAP 0/1978MB (cached 0MB) CPU [4%@102,2%@102,0%@102,0%@102] "
        "EMC_FREQ 0% GR3D_FREQ 0% PLL@25C CPU@28C PMIC@100C GPU@27.5C AO@34C thermal@27.75C "
        "POM_5V_IN 1188/1188 POM_5V_GPU 0/0 POM_5V_CPU 160/160")
ORIN = ("RAM 4722/30536MB (lfb 6066x4MB) SWAP 0/15268MB (cached 0MB) CPU [1%@729,0%@729,0%@729,0%@729] "
        "EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305,305] VIC_FREQ 729 APE 174 CV0@46.062C CPU@48.187C SOC2@44.312C "
        "VDD_GPU_SOC 3176mW/3176mW VDD_CPU_CV 795mW/795mW VIN_SYS_5V0 4032mW/4032mW VDD_IN 7985mW/7985mW")


def test_tegrastats_nano_and_orin_lines():
    nano = parse_tegrastats(NANO)
    assert nano == {"POM_5V_IN": 1188, "POM_5V_GPU": 0, "POM_5V_CPU": 160}
    orin = parse_tegrastats(ORIN)
    assert orin["VDD_IN"] == 7985 and orin["VDD_GPU_SOC"] == 3176 and orin["VIN_SYS_5V0"] == 4032
    assert next(r for r in BOARD_RAILS if r in nano) == "POM_5V_IN"
    assert next(r for r in BOARD_RAILS if r in orin) == "VDD_IN"
    assert parse_tegrastats("RAM 1/2MB CPU@30C") == {}


def test_probe_without_a_meter_reports_nothing(monkeypatch):
    from edgebench.bench import energy

    monkeypatch.setattr(energy, "open_meter", lambda device: None)
    probe = EnergyProbe("cpu")
    assert not probe.available and probe.window(lambda: 7) == 7 and probe.result() is None


def test_probe_subtracts_idle_power(monkeypatch):
    from edgebench.bench import energy

    class Fake(energy._Meter):
        source = "fake"
        calls = [(1.0, 0.5), (3.0, 1.0)]  # idle: 2 W; window: 3 J in 1 s

        def start(self):
            pass

        def stop(self):
            return self.calls.pop(0)

    monkeypatch.setattr(energy, "open_meter", lambda device: Fake())
    probe = EnergyProbe("cpu", idle_s=0)
    probe.window(lambda: None)
    r = probe.result()
    assert r.idle_watts == pytest.approx(2.0) and r.joules == pytest.approx(1.0) and r.source == "fake"


def test_board_power_of_a_nano_and_an_orin_line_and_a_targets_text():
    nano = "RAM 1500/3964MB CPU [10%@1479] GPU 3%@76 POM_5V_IN 2505/2505 POM_5V_GPU 40/40 POM_5V_CPU 400/400"
    orin = "RAM 3000/30000MB VDD_GPU_SOC 2000mW/2000mW VDD_CPU_CV 800mW/800mW VDD_IN 7500mW/7400mW"
    assert board_power(nano) == ("POM_5V_IN", 2.505) and board_power(orin) == ("VDD_IN", 7.5)
    assert board_power("RAM 1500/3964MB CPU [10%@1479]") is None
    assert board_watts(f"{nano}\nno rail here\n{nano.replace('2505/2505', '3000/2700')}\n") == ("POM_5V_IN", [2.505, 3.0])
    assert board_watts("") == (None, [])
