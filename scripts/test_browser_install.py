"""The first command installs no browser; only the test command installs what the console's
browser test needs (run by scripts/test: `.tools/venv/bin/python -m unittest discover -s
scripts -p 'test_*.py'`).

`scripts/local-stack` and `scripts/bootstrap` run here with `apt-get`, `sudo`, `python3`
and `cargo` replaced by stand-ins that record their arguments and do nothing, so nothing
is installed and the recorded calls are what the scripts would have run.
"""
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile
import unittest

SCRIPTS = pathlib.Path(__file__).resolve().parent
ROOT = SCRIPTS.parent

RECORDER = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CALLS"
"""


class StandIns:
    """A copy of the scripts in a scratch repository whose tools are recorders."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        base = pathlib.Path(self.dir.name)
        self.root = base / "repo"
        (self.root / "scripts").mkdir(parents=True)
        for name in ["bootstrap", "local-stack", "test", "tools.requirements.txt",
                     "browser-deps"]:
            source = SCRIPTS / name
            if source.exists():
                shutil.copy(source, self.root / "scripts" / name)
        # The pinned tools count as installed: bootstrap's own venv step does nothing.
        venv = self.root / ".tools" / "venv"
        (venv / "bin").mkdir(parents=True)
        shutil.copy(SCRIPTS / "tools.requirements.txt", venv / ".installed-requirements")
        python = venv / "bin" / "python"
        python.write_text(RECORDER)
        python.chmod(python.stat().st_mode | stat.S_IEXEC)
        self.bin = base / "bin"
        self.bin.mkdir()
        for tool in ["apt-get", "sudo", "cargo", "python3"]:
            path = self.bin / tool
            path.write_text(RECORDER)
            path.chmod(path.stat().st_mode | stat.S_IEXEC)
        self.calls = base / "calls"
        self.calls.write_text("")
        # A machine without chromium: the check looks where Debian installs it.
        self.env = dict(os.environ, PATH=f"{self.bin}:/usr/bin:/bin", CALLS=str(self.calls),
                        CHROMIUM_BIN=str(base / "no-chromium"),
                        CHROMEDRIVER_BIN=str(base / "no-chromedriver"))

    def run(self, script):
        return subprocess.run(["bash", f"scripts/{script}"], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def recorded(self):
        return self.calls.read_text().splitlines()

    def close(self):
        self.dir.cleanup()


class BrowserInstall(unittest.TestCase):
    def setUp(self):
        self.stand_ins = StandIns()

    def tearDown(self):
        self.stand_ins.close()

    def test_the_first_command_installs_no_browser(self):
        self.stand_ins.run("local-stack")
        apt = [c for c in self.stand_ins.recorded() if "apt-get" in c]
        self.assertEqual(apt, [], "scripts/local-stack must not run apt-get")

    def test_the_test_command_says_so_then_installs_without_recommends(self):
        result = self.stand_ins.run("test")
        installs = [c for c in self.stand_ins.recorded() if "apt-get" in c and "install" in c]
        self.assertTrue(installs, f"no install: {self.stand_ins.recorded()} {result.stderr}")
        for call in installs:
            self.assertIn("--no-install-recommends", call)
            self.assertIn("chromium", call)
        self.assertIn("installing chromium and chromium-driver", result.stderr)


if __name__ == "__main__":
    unittest.main()
