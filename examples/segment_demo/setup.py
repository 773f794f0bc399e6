from setuptools import find_packages, setup

setup(
    name="segment-demo",
    version="0.3.0",
    packages=find_packages(exclude=("scripts",)),
    install_requires=["torch>=2.0", "numpy", "pillow"],
    entry_points={"console_scripts": ["segment-demo=segmenter.cli:main"]},
)
