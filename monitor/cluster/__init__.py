"""Cluster stage: place each post in a cluster of near-duplicate claims."""
