"""Claims fact-checkers have already reviewed: ClaimReview read and written (claimreview.py),
imported as known claims (imports.py), which alerts recognise when they resurface."""
