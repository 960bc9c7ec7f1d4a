"""toyscale: batched simulators of the solvable toy models behind neural scaling laws."""
from setuptools import find_packages, setup

setup(
    name="toyscale",
    version="0.1.0",
    description="GPU-accelerated simulators of solvable scaling-law toy models, "
    "with a harness that fits measured exponents and compares them with theory.",
    python_requires=">=3.10",
    packages=find_packages(include=["simulators", "simulators.*", "kernels", "kernels.*", "benchmarks", "benchmarks.*"]),
    install_requires=[
        # Loose on purpose: GPU users get their CUDA build. CI and README pin the CPU wheel
        # through constraints-cpu.txt, never here.
        "torch>=2.13",
        "numpy>=1.24",
        "scipy>=1.10",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "gpu": ["triton>=3.0"],
        "dev": ["pytest>=7", "hypothesis>=6.80", "nbformat>=5.9", "nbclient>=0.10", "ipykernel>=6.25"],
        "ray": ["ray>=2.9"],                 # --executor ray (docs/ray.md)
    },
    entry_points={"console_scripts": ["toyscale=simulators.harness.cli:main"]},
)
