"""The agent's path, in the protocols agents already speak.

* ``terms``: the engine's answers for a resource, the one source of every export.
* ``rsl``: RSL 1.0 documents (``rsl.rng``: the grammar the tests check them against).
* ``aipref``: IETF AI-preference ``Content-Usage`` values and robots.txt.
* ``odrl``: ODRL 2.2 Offers per policy and W3C TDMRep.
* ``service``: ``AgentTerms``, the exports cached per rights-index generation.

No Litestar here: ``api/agents.py`` serves these.
"""
