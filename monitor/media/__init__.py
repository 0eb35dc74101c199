"""Photos and videos of posts: fingerprinted (hashing.py), compared (matching.py), found
among all stored ones (index.py), kept as evidence (files.py) and placed with the posts
that carry the same media (placement.py)."""
