"""Test doubles and demo data: what the tests, the benches and ``dora demo`` stand the product on.

The loopback Telegram Bot API server (:mod:`testkit.botapi`), the one fake chat model
(:mod:`testkit.fake_chat`) and the demo data seeder (:mod:`testkit.demo`) live here rather than in
the product packages, so that the wheel a user installs holds the product only: ``testkit`` is not
packaged, and is importable from a source checkout set up with ``make setup``.
"""
