"""Test scaffolding, apart from the shipped pipeline: tiny random models and synthetic photos.

Built through the same loading paths as real weights (`from_pretrained`, `load_ip_adapter`,
`FaceAnalysis(root=...)`), for tests, the demo and benchmarks. Nothing in the shipped stages
imports this package.
"""
