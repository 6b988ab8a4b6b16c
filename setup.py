"""Build hook: the wheel carries the bundled sample.

The sample's home is ``data/`` of the repository; the build copies it into the package as
``recommender/_sample/`` (found with importlib.resources), so ``alsosee train`` and
``alsosee serve`` work from an installed wheel. Everything else is in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: Files of data/ shipped in the wheel (the sample and its licence notice).
SAMPLE_FILES = ["globalvoices-2012-05.jsonl", "NOTICE"]


class BuildPyWithSample(build_py):
    def _get_data_files(self):
        files = super()._get_data_files()
        # (package, source dir, build dir, file names): build_py copies these as package data.
        target = str(Path(self.build_lib, "recommender", "_sample"))
        return [*files, ("recommender._sample", "data", target, SAMPLE_FILES)]


setup(cmdclass={"build_py": BuildPyWithSample})
