"""Counts read naturally: English picks one/other forms, Chinese uses a measure word."""

from __future__ import annotations

import pytest

from bot.texts import CATALOGUES, PLURAL_RULES, plural_specs, text


def test_english_picks_singular_and_plural_forms() -> None:
    one = text("en", "delete_done", orders=1, photos=1, refunded=0, ledger=1)
    assert "1 order," in one and "1 photo reference," in one and "1 payment record " in one
    many = text("en", "delete_done", orders=2, photos=0, refunded=5, ledger=3)
    assert "2 orders," in many and "0 photo references," in many
    assert "3 payment records " in many and "Refunded: 5 ⭐" in many
    assert text("en", "slow_down", seconds=1).count("1 second,") == 1
    assert "60 seconds," in text("en", "slow_down", seconds=60)


def test_chinese_counts_use_measure_words_whatever_the_number() -> None:
    for n in (1, 2):
        done = text("zh", "delete_done", orders=n, photos=n, refunded=0, ledger=n)
        assert f"{n} 个订单" in done and f"{n} 条" in done
        assert "#" not in done and "|" not in done


@pytest.mark.parametrize("lang", sorted(CATALOGUES))
def test_no_text_hedges_with_s_and_every_plural_has_its_languages_forms(lang: str) -> None:
    forms_needed = len({PLURAL_RULES[lang](n) for n in range(200)})
    for key, template in CATALOGUES[lang].items():
        assert "(s)" not in template, key
        for spec in plural_specs(template):
            forms = spec.split("|")
            assert len(forms) == forms_needed, (key, spec)
            assert all(form.count("#") == 1 for form in forms), (key, spec)


def test_a_plural_form_refuses_a_non_integer_count() -> None:
    with pytest.raises(TypeError, match="int count"):
        text("en", "slow_down", seconds=1.5)
