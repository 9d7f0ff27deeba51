"""Learning from conversations: the training set DORA builds from what users chose to share
(``dora train data``). Training itself needs the optional ``train`` extra; nothing else in DORA
imports this package."""
