"""Synthetic CRM data with planted truth: the demo every report runs on.

`generate()` returns the tables in memory; `write_demo()` writes the layout of
docs/architecture.md ("Demo data") in chunks, so it also makes benchmark data of 10^7-10^8
orders without holding them in memory; `write_orders_only()` writes just an orders file of
a requested size.

What is planted (and recorded in ``truth/truth.json`` and ``truth/customers.parquet``):

* Five latent **personas** with mean profiles on six survey constructs. Survey answers are
  ``clip(round(mu[persona, construct] + loading * eta + intercept + noise), 1, 5)``, with
  ``eta`` a respondent's own deviation on the construct; reverse-coded items are stored
  flipped (``6 - x``). Personas also drive behaviour: purchase rate, dropout, order value,
  category and channel mix, email engagement.
* A **Buy-Till-You-Die** purchase process per customer: a Poisson purchase process with
  rate ``lambda`` (seasonal and weekly intensity), and after every purchase the customer
  drops out with probability ``p`` (BG/NBD). Some customers buy once, some churn part-way,
  some stay loyal. A small share of orders falls after the analysis date (to test that they
  are excluded); returns reference an earlier order of the same customer.
* Three randomised **campaigns** (``autumn_newsletter``: control/treatment; ``loyalty_offer``:
  control/offer_a/offer_b; ``winter_preview``: control/treatment, still assigning customers
  day by day on the analysis date) over the customers who ordered in the year before launch,
  with true effects that differ by persona. For an exposed customer of persona ``k`` in variant
  ``v``, with ``r`` their percentile of ``pre_revenue`` among the exposed of persona ``k``
  (``(rank - 1/2) / n`` within each batch of 1,000 customer numbers, ties ordered by the
  customer's mean order value; the mean of ``r`` is exactly 1/2 in every group)::

      g            = G0 + G1 * r                       (mean exactly 1; G0 = 0.1, G1 = 1.8)
      P(converted) = (b[k] + d[v, k]) * g
      revenue      = converted * 1.2 * aov * u[v] * e,  e lognormal with mean 1

  where ``b`` is the baseline, ``d`` the true absolute effect on conversion, ``u`` a spend
  multiplier of the variant (offer_a is a discount: 0.9) and ``aov`` the customer's own mean
  order value. Active, high-value customers convert more and spend more, so ``pre_revenue``
  predicts ``revenue`` (CUPED helps). Because the mean of ``g`` over the exposed of a persona
  is exactly 1, the true effect on conversion is ``d[v, k]``; with
  ``A[k] = mean over the exposed of persona k of 1.2 * g * aov`` (recorded as
  ``value_factor``) the exact expected effect on revenue per exposed customer is::

      true_effect_revenue_per_customer = A[k] * ((b[k] + d[v, k]) * u[v] - b[k])

Randomness is drawn per unit of 1,000 customers from ``SeedSequence(seed, spawn_key=(unit,))``,
so a fixed seed gives identical output, and the chunked writer produces exactly the rows of
the in-memory generator (row for row) whatever its chunk size. The orders of
``write_orders_only(n_orders, seed)`` are those of ``write_demo`` with the same number of
customers, seed and ``orders_per_customer``.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segwork import progress
from segwork.errors import SegworkError

__all__ = [
    "CONSTRUCTS",
    "DemoData",
    "DemoParameterError",
    "PERSONAS",
    "SURVEY_ITEMS",
    "generate",
    "write_demo",
    "write_orders_only",
]

GENERATOR_VERSION = 1
_UNIT = 1_000  # customers per random-number unit (fixes the streams; not a memory knob)
_US_PER_DAY = 86_400_000_000
_AFTER_DAYS = 4  # orders are simulated up to this many days after the analysis date
_PRE_YEARS = 3.0  # customers created up to this long before the order window
_SHARE_CREATED_BEFORE = 0.55


class DemoParameterError(SegworkError, ValueError):
    """A parameter of the demo generator is out of range."""


# --------------------------------------------------------------------------------------
# Personas, constructs, survey items
# --------------------------------------------------------------------------------------

CONSTRUCTS: tuple[str, ...] = (
    "price_sensitivity",
    "quality_focus",
    "sustainability",
    "innovation",
    "convenience",
    "brand_loyalty",
)

CATEGORIES: tuple[str, ...] = (
    "Electronics",
    "Home & Garden",
    "Fashion",
    "Sports & Outdoors",
    "Beauty & Health",
    "Books & Media",
    "Office & Business",
)
_CATEGORY_PRICE = np.array([1.7, 1.1, 0.8, 1.0, 0.55, 0.4, 0.9])
_CATEGORY_RETURN = np.array([0.035, 0.02, 0.09, 0.03, 0.012, 0.01, 0.015])
_B2B_CATEGORY_MIX = np.array([0.25, 0.10, 0.0, 0.0, 0.0, 0.05, 0.60])

CHANNELS: tuple[str, ...] = ("web", "store", "phone", "b2b_portal")
_B2B_CHANNEL_MIX = np.array([0.10, 0.05, 0.25, 0.60])

# Personas: survey construct means (1..5 scale, in CONSTRUCTS order) and behaviour.
PERSONAS: tuple[dict[str, Any], ...] = (
    {
        "name": "Price-driven deal hunters",
        "share": 0.26,
        "construct_means": (4.5, 2.3, 2.2, 2.6, 3.0, 1.8),
        "b2b_share": 0.08,
        "purchase_rate_per_year": 5.0,
        "dropout_prob": 0.14,
        "one_time_share": 0.30,
        "mean_order_value_czk": 550.0,
        "category_mix": (0.20, 0.20, 0.25, 0.10, 0.12, 0.10, 0.03),
        "channel_mix": (0.55, 0.42, 0.03, 0.0),
        "email_open_rate": 0.38,
        "email_click_rate": 0.30,
        "web_visits_per_order": 4.0,
        "cart_abandon_per_order": 0.5,
        "mean_age": 40.0,
        "female_share": 0.58,
        "education": (0.10, 0.35, 0.38, 0.17),
        "income_band": (0.30, 0.35, 0.22, 0.10, 0.03),
    },
    {
        "name": "Quality-first loyalists",
        "share": 0.18,
        "construct_means": (1.8, 4.5, 3.0, 2.7, 3.0, 4.4),
        "b2b_share": 0.18,
        "purchase_rate_per_year": 3.0,
        "dropout_prob": 0.04,
        "one_time_share": 0.12,
        "mean_order_value_czk": 2100.0,
        "category_mix": (0.18, 0.30, 0.20, 0.12, 0.10, 0.07, 0.03),
        "channel_mix": (0.35, 0.55, 0.10, 0.0),
        "email_open_rate": 0.18,
        "email_click_rate": 0.15,
        "web_visits_per_order": 2.0,
        "cart_abandon_per_order": 0.15,
        "mean_age": 52.0,
        "female_share": 0.50,
        "education": (0.04, 0.20, 0.40, 0.36),
        "income_band": (0.08, 0.20, 0.32, 0.25, 0.15),
    },
    {
        "name": "Eco-conscious shoppers",
        "share": 0.16,
        "construct_means": (2.9, 3.6, 4.6, 2.5, 2.2, 3.1),
        "b2b_share": 0.10,
        "purchase_rate_per_year": 3.5,
        "dropout_prob": 0.07,
        "one_time_share": 0.18,
        "mean_order_value_czk": 1300.0,
        "category_mix": (0.08, 0.30, 0.15, 0.20, 0.20, 0.05, 0.02),
        "channel_mix": (0.50, 0.45, 0.05, 0.0),
        "email_open_rate": 0.30,
        "email_click_rate": 0.22,
        "web_visits_per_order": 3.0,
        "cart_abandon_per_order": 0.25,
        "mean_age": 38.0,
        "female_share": 0.62,
        "education": (0.03, 0.15, 0.37, 0.45),
        "income_band": (0.12, 0.28, 0.32, 0.20, 0.08),
    },
    {
        "name": "Tech early adopters",
        "share": 0.17,
        "construct_means": (2.4, 3.4, 2.1, 4.6, 3.7, 2.5),
        "b2b_share": 0.26,
        "purchase_rate_per_year": 4.0,
        "dropout_prob": 0.09,
        "one_time_share": 0.20,
        "mean_order_value_czk": 2600.0,
        "category_mix": (0.50, 0.12, 0.08, 0.08, 0.04, 0.12, 0.06),
        "channel_mix": (0.82, 0.15, 0.03, 0.0),
        "email_open_rate": 0.24,
        "email_click_rate": 0.28,
        "web_visits_per_order": 5.0,
        "cart_abandon_per_order": 0.30,
        "mean_age": 32.0,
        "female_share": 0.30,
        "education": (0.04, 0.16, 0.38, 0.42),
        "income_band": (0.08, 0.22, 0.33, 0.24, 0.13),
    },
    {
        "name": "Convenience seekers",
        "share": 0.23,
        "construct_means": (2.8, 2.6, 2.2, 2.8, 4.6, 3.3),
        "b2b_share": 0.15,
        "purchase_rate_per_year": 6.0,
        "dropout_prob": 0.08,
        "one_time_share": 0.22,
        "mean_order_value_czk": 950.0,
        "category_mix": (0.15, 0.20, 0.20, 0.08, 0.22, 0.12, 0.03),
        "channel_mix": (0.88, 0.08, 0.04, 0.0),
        "email_open_rate": 0.14,
        "email_click_rate": 0.20,
        "web_visits_per_order": 2.0,
        "cart_abandon_per_order": 0.40,
        "mean_age": 42.0,
        "female_share": 0.52,
        "education": (0.06, 0.28, 0.42, 0.24),
        "income_band": (0.12, 0.28, 0.32, 0.20, 0.08),
    },
)

EDUCATION: tuple[str, ...] = ("primary", "vocational", "secondary", "university")
INCOME_BANDS: tuple[str, ...] = ("0-25k", "25-40k", "40-60k", "60-90k", "90k+")

# B2B customers buy more often, with larger orders, and drop out less often.
_B2B_RATE_MULT = 2.5
_B2B_VALUE_MULT = 5.0
_B2B_DROPOUT_MULT = 0.4
_RATE_GAMMA_SHAPE = 2.0  # customer heterogeneity of the purchase rate (mean 1)
_DROPOUT_CONCENTRATION = 8.0  # Beta(p * c, (1 - p) * c) around the persona dropout
_VALUE_SIGMA = 0.5  # s_w: customer value factor w = exp(s_w z - s_w^2/2)
_ORDER_SIGMA = 0.55  # order-to-order spread of amounts around the customer's mean
_ACQUISITION_PURCHASE = 0.85  # share of new customers whose sign-up comes with an order
_SAME_DAY_REPEAT = 0.015
_PARTIAL_RETURN = 0.25

# Survey items: (item, construct, text, reverse_coded, loading, intercept). Constructs are
# interleaved as in a real questionnaire; one reverse-coded item per construct.
# fmt: off
SURVEY_ITEMS: tuple[tuple[str, str, str, bool, float, float], ...] = (
    ("q01", "price_sensitivity", "I compare prices before every purchase.", False, 1.0, 0.1),
    ("q02", "quality_focus", "I would rather buy one good product than several cheap ones.", False, 0.9, 0.0),
    ("q03", "sustainability", "I prefer products with an environmental label.", False, 1.0, -0.1),
    ("q04", "innovation", "I like to be among the first to try new products.", False, 1.0, 0.0),
    ("q05", "convenience", "Fast delivery matters more to me than the lowest price.", False, 0.9, -0.1),
    ("q06", "brand_loyalty", "I usually buy from the same shops and brands.", False, 1.0, 0.1),
    ("q07", "price_sensitivity", "I often wait for a sale or a discount before buying.", False, 0.9, 0.0),
    ("q08", "quality_focus", "For most products, the cheapest option is good enough for me.", True, 0.8, 0.1),
    ("q09", "sustainability", "I consider how a product is made and transported before I buy it.", False, 0.9, -0.2),
    ("q10", "innovation", "I follow news about new technologies and gadgets.", False, 0.9, 0.1),
    ("q11", "convenience", "I do not mind spending time to find and collect what I need.", True, 0.8, 0.0),
    ("q12", "brand_loyalty", "Once I find a product I like, I stick with it.", False, 0.9, 0.2),
    ("q13", "price_sensitivity", "I am happy to pay full price for the things I want.", True, 0.8, 0.0),
    ("q14", "quality_focus", "I read reviews and product details carefully before I buy.", False, 0.8, 0.2),
    ("q15", "sustainability", "The environmental impact of a product does not influence my choice.", True, 0.8, 0.1),
    ("q16", "innovation", "New features are a good reason to replace something that still works.", False, 0.8, -0.2),
    ("q17", "convenience", "I prefer shops where I can order in a few clicks.", False, 1.0, 0.1),
    ("q18", "brand_loyalty", "I switch brands easily when another one is on offer.", True, 0.8, 0.0),
    ("q19", "price_sensitivity", "Loyalty points and coupons decide where I shop.", False, 0.8, -0.1),
    ("q20", "quality_focus", "Good workmanship is worth paying extra for.", False, 1.0, 0.0),
    ("q21", "sustainability", "I would pay more for packaging that can be recycled.", False, 0.9, 0.0),
    ("q22", "innovation", "I wait until a new product has been on the market for a long time before I buy it.", True, 0.8, 0.0),
    ("q23", "convenience", "Hassle-free returns are important to me when choosing a shop.", False, 0.8, 0.2),
    ("q24", "brand_loyalty", "I recommend brands I like to friends and colleagues.", False, 0.8, -0.1),
)
# fmt: on
_SURVEY_TRAIT_SD = 0.45  # respondent deviation from the persona mean, per construct
_SURVEY_NOISE_SD = 0.75  # item-level noise
_SURVEY_RESPONSE_RATE = 0.56  # among customers with profiling consent (about 40% overall)
_SURVEY_MISSING = 0.03
_SURVEY_SPARSE_SHARE = 0.015  # respondents who skipped most questions

# --------------------------------------------------------------------------------------
# Campaigns
# --------------------------------------------------------------------------------------

_CAMPAIGN_SPEND_SIGMA = 0.45  # s_e
_CAMPAIGN_SPEND_MULT = 1.2  # M[k] = 1.2 * persona mean order value (B2C)

CAMPAIGNS: tuple[dict[str, Any], ...] = (
    {
        "campaign_id": "autumn_newsletter",
        "days_before_analysis": 45,
        "launch_hour": 8.0,
        "attribution_days": 30,
        "eligibility": "ordered in the 365 days before launch and email_opt_in",
        "needs_email_opt_in": True,
        "variants": ("control", "treatment"),
        "shares": (0.5, 0.5),
        "spend_multiplier": (1.0, 1.0),
        "baseline": (0.10, 0.05, 0.08, 0.07, 0.09),
        "effects": {"treatment": (0.06, 0.0, 0.02, -0.03, 0.025)},
    },
    {
        "campaign_id": "loyalty_offer",
        "days_before_analysis": 44,
        "launch_hour": 9.0,
        "attribution_days": 30,
        "eligibility": "ordered in the 365 days before launch",
        "needs_email_opt_in": False,
        "variants": ("control", "offer_a", "offer_b"),
        "shares": (0.34, 0.33, 0.33),
        "spend_multiplier": (1.0, 0.9, 1.0),
        "baseline": (0.12, 0.09, 0.08, 0.07, 0.11),
        "effects": {
            "offer_a": (0.07, 0.01, 0.02, 0.015, 0.03),
            "offer_b": (0.01, 0.04, 0.0, 0.02, 0.06),
        },
    },
    {
        # Still running on the analysis date: a random 35% of the eligible customers are
        # assigned one by one over 26 days (as they visit), so traffic per day is visible in
        # assigned_at; every 2-day attribution window (a 48-hour preview offer) has closed by
        # the end of the analysis date.
        "campaign_id": "winter_preview",
        "days_before_analysis": 28,
        "launch_hour": 0.0,
        "attribution_days": 2,
        "assignment_days": 26,
        "sample_share": 0.35,
        "eligibility": "ordered in the 365 days before launch and email_opt_in; a random 35%, "
        "assigned over 26 days",
        "needs_email_opt_in": True,
        "variants": ("control", "treatment"),
        "shares": (0.5, 0.5),
        "spend_multiplier": (1.0, 1.0),
        "baseline": (0.08, 0.05, 0.07, 0.06, 0.08),
        "effects": {"treatment": (0.03, 0.01, 0.02, 0.0, 0.025)},
    },
)

# --------------------------------------------------------------------------------------
# Czech geography, names, companies
# --------------------------------------------------------------------------------------

# (region, population in thousands, [(city, population in thousands, postal codes)])
# fmt: off
REGIONS: tuple[tuple[str, float, tuple[tuple[str, float, tuple[str, ...]], ...]], ...] = (
    ("Hlavní město Praha", 1384, (
        ("Praha", 1, ("110 00", "120 00", "130 00", "140 00", "150 00", "160 00", "170 00", "180 00", "190 00", "100 00")),
    )),
    ("Středočeský kraj", 1455, (
        ("Kladno", 69, ("272 01",)), ("Mladá Boleslav", 44, ("293 01",)), ("Příbram", 32, ("261 01",)),
        ("Kolín", 32, ("280 02",)), ("Beroun", 20, ("266 01",)), ("Benešov", 17, ("256 01",)),
        ("Mělník", 19, ("276 01",)),
    )),
    ("Jihočeský kraj", 651, (
        ("České Budějovice", 97, ("370 01", "370 04", "370 05")), ("Tábor", 33, ("390 01", "390 02")),
        ("Písek", 30, ("397 01",)), ("Strakonice", 22, ("386 01",)), ("Jindřichův Hradec", 20, ("377 01",)),
    )),
    ("Plzeňský kraj", 605, (
        ("Plzeň", 185, ("301 00", "312 00", "318 00", "323 00", "326 00")), ("Klatovy", 22, ("339 01",)),
        ("Rokycany", 14, ("337 01",)), ("Domažlice", 11, ("344 01",)),
    )),
    ("Karlovarský kraj", 293, (
        ("Karlovy Vary", 47, ("360 01", "360 05")), ("Cheb", 31, ("350 02",)), ("Sokolov", 22, ("356 01",)),
    )),
    ("Ústecký kraj", 811, (
        ("Ústí nad Labem", 91, ("400 01", "400 03", "403 31")), ("Most", 64, ("434 01",)),
        ("Teplice", 49, ("415 01",)), ("Děčín", 47, ("405 02",)), ("Chomutov", 47, ("430 01",)),
        ("Litoměřice", 23, ("412 01",)),
    )),
    ("Liberecký kraj", 447, (
        ("Liberec", 104, ("460 01", "460 07", "460 14")), ("Jablonec nad Nisou", 45, ("466 01",)),
        ("Česká Lípa", 36, ("470 01",)),
    )),
    ("Královéhradecký kraj", 555, (
        ("Hradec Králové", 92, ("500 02", "500 03", "500 09")), ("Trutnov", 29, ("541 01",)),
        ("Náchod", 19, ("547 01",)), ("Jičín", 16, ("506 01",)),
    )),
    ("Pardubický kraj", 527, (
        ("Pardubice", 91, ("530 02", "530 03", "530 09")), ("Chrudim", 23, ("537 01",)),
        ("Svitavy", 16, ("568 02",)), ("Ústí nad Orlicí", 14, ("562 01",)),
    )),
    ("Kraj Vysočina", 512, (
        ("Jihlava", 51, ("586 01",)), ("Třebíč", 34, ("674 01",)), ("Havlíčkův Brod", 23, ("580 01",)),
        ("Žďár nad Sázavou", 20, ("591 01",)), ("Pelhřimov", 16, ("393 01",)),
    )),
    ("Jihomoravský kraj", 1217, (
        ("Brno", 400, ("602 00", "612 00", "615 00", "616 00", "617 00", "618 00", "621 00", "625 00", "628 00", "635 00")),
        ("Znojmo", 33, ("669 02",)), ("Břeclav", 24, ("690 02",)), ("Hodonín", 24, ("695 01",)),
        ("Vyškov", 21, ("682 01",)), ("Blansko", 20, ("678 01",)),
    )),
    ("Olomoucký kraj", 632, (
        ("Olomouc", 101, ("779 00", "772 00", "783 71")), ("Přerov", 41, ("750 02",)),
        ("Prostějov", 43, ("796 01",)), ("Šumperk", 25, ("787 01",)),
    )),
    ("Zlínský kraj", 583, (
        ("Zlín", 74, ("760 01", "763 02")), ("Kroměříž", 28, ("767 01",)),
        ("Uherské Hradiště", 25, ("686 01",)), ("Vsetín", 25, ("755 01",)),
        ("Valašské Meziříčí", 22, ("757 01",)),
    )),
    ("Moravskoslezský kraj", 1195, (
        ("Ostrava", 285, ("702 00", "700 30", "708 00", "709 00", "710 00", "712 00")),
        ("Havířov", 70, ("736 01",)), ("Opava", 56, ("746 01",)), ("Frýdek-Místek", 55, ("738 01",)),
        ("Karviná", 50, ("733 01",)), ("Třinec", 35, ("739 61",)),
    )),
)
# fmt: on

# fmt: off
_MALE_FIRST = (
    "Jiří", "Jan", "Petr", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav", "Zdeněk",
    "Václav", "Michal", "František", "Jakub", "Milan", "Karel", "Lukáš", "David", "Ondřej",
    "Vojtěch", "Adam", "Filip",
)
_FEMALE_FIRST = (
    "Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Lucie", "Věra", "Alena",
    "Petra", "Veronika", "Martina", "Jaroslava", "Tereza", "Michaela", "Zuzana", "Markéta",
    "Barbora", "Klára", "Eliška", "Adéla",
)
_SURNAMES = (  # (male, female)
    ("Novák", "Nováková"), ("Svoboda", "Svobodová"), ("Novotný", "Novotná"), ("Dvořák", "Dvořáková"),
    ("Černý", "Černá"), ("Procházka", "Procházková"), ("Kučera", "Kučerová"), ("Veselý", "Veselá"),
    ("Horák", "Horáková"), ("Němec", "Němcová"), ("Marek", "Marková"), ("Pospíšil", "Pospíšilová"),
    ("Pokorný", "Pokorná"), ("Hájek", "Hájková"), ("Král", "Králová"), ("Jelínek", "Jelínková"),
    ("Růžička", "Růžičková"), ("Beneš", "Benešová"), ("Fiala", "Fialová"), ("Sedláček", "Sedláčková"),
    ("Doležal", "Doležalová"), ("Zeman", "Zemanová"), ("Kolář", "Kolářová"), ("Navrátil", "Navrátilová"),
    ("Čermák", "Čermáková"), ("Vaněk", "Vaňková"), ("Urban", "Urbanová"), ("Blažek", "Blažková"),
    ("Kříž", "Křížová"), ("Kovář", "Kovářová"), ("Bartoš", "Bartošová"), ("Vlček", "Vlčková"),
)
_EMAIL_DOMAINS = ("seznam.cz", "gmail.com", "email.cz", "centrum.cz", "post.cz", "outlook.com", "icloud.com")
_EMAIL_DOMAIN_W = (0.38, 0.30, 0.12, 0.07, 0.05, 0.05, 0.03)
_MOBILE_PREFIXES = (601, 602, 603, 604, 605, 606, 607, 608, 702, 720, 721, 723, 724, 728, 730, 731, 732, 733, 734, 736, 737, 739, 770, 773, 774, 775, 776, 777)
_COMPANY_STEMS = ("Agro", "Stavo", "Techno", "Elektro", "Bio", "Kovo", "Dřevo", "Auto", "Info", "Medi", "Eko", "Trans", "Data")
_COMPANY_TAILS = ("tech", "mont", "plast", "servis", "trade", "systems", "log", "com", "tex", "med")
_COMPANY_TRADES = ("Stavby", "Logistika", "Servis", "Obchod", "Technik", "Elektro", "Design", "Group")
_LEGAL_FORMS = ("s.r.o.", "a.s.", "spol. s r.o.", "v.o.s.")
_LEGAL_W = (0.70, 0.18, 0.08, 0.04)
INDUSTRIES: tuple[str, ...] = (
    "Manufacturing", "Construction", "Retail", "IT services", "Healthcare", "Logistics",
    "Hospitality", "Agriculture", "Public sector", "Professional services",
)
_INDUSTRY_W = (0.20, 0.12, 0.13, 0.12, 0.07, 0.08, 0.07, 0.05, 0.04, 0.12)
OWNERS_B2B: tuple[str, ...] = ("Jana Dvořáková", "Petr Svoboda", "Martin Novotný", "Lucie Černá", "Tomáš Procházka")
OWNERS_B2C: tuple[str, ...] = ("Eva Králová", "Jakub Veselý", "Tereza Horáková")
# fmt: on

# Missing shares of profile columns (of the customers the column applies to).
# fmt: off
_MISSING = {
    "email": 0.03, "phone": 0.08, "gender": 0.02, "birth_date": 0.06, "education": 0.08,
    "income_band": 0.12, "city": 0.02, "industry": 0.03, "employees": 0.05, "annual_revenue": 0.15,
}
# fmt: on

# Hour-of-day weights per channel (web, store, phone, b2b_portal).
# fmt: off
_HOURS = np.array([
    [1, .6, .3, .2, .2, .3, .8, 1.5, 2.5, 3, 3.2, 3.4, 3.8, 3.5, 3.3, 3.3, 3.6, 4.2, 5, 6, 6.5, 6, 4, 2],
    [0, 0, 0, 0, 0, 0, 0, 0, 2, 4, 5, 6, 6, 5, 5, 6, 7, 7, 5, 3, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 5, 4, 3, 4, 5, 5, 4, 2, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 1, 3, 6, 7, 7, 6, 4, 5, 6, 6, 5, 3, 2, 1, .5, .5, .2, .1],
], dtype=float)
# fmt: on
_HOURS_CUM = np.cumsum(_HOURS / _HOURS.sum(axis=1, keepdims=True), axis=1)
_WEEKDAY_B2C = np.array([1.02, 0.98, 0.97, 1.0, 0.95, 0.93, 1.15])
_WEEKDAY_B2B = np.array([1.25, 1.2, 1.2, 1.15, 1.0, 0.12, 0.05])


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _cities() -> tuple[list[str], list[str], np.ndarray, list[str], np.ndarray, np.ndarray]:
    """Flatten REGIONS: city names, their region, joint probability and postal codes."""
    city, region, prob, codes, start, count = [], [], [], [], [], []
    for reg, reg_pop, reg_cities in REGIONS:
        total = sum(pop for _, pop, _ in reg_cities)
        for name, pop, pcs in reg_cities:
            city.append(name)
            region.append(reg)
            prob.append(reg_pop * pop / total)
            start.append(len(codes))
            count.append(len(pcs))
            codes.extend(pcs)
    p = np.array(prob) / sum(prob)
    return city, region, p, codes, np.array(start), np.array(count)


_CITY, _CITY_REGION, _CITY_P, _POSTAL, _POSTAL_START, _POSTAL_COUNT = _cities()


# --------------------------------------------------------------------------------------
# Public result type
# --------------------------------------------------------------------------------------


@dataclass(repr=False)
class DemoData:
    """The demo tables (pandas) plus the planted truth (a JSON-ready dict)."""

    customers: pd.DataFrame
    orders: pd.DataFrame
    interactions: pd.DataFrame
    survey_responses: pd.DataFrame
    survey_items: pd.DataFrame
    campaign_exposures: pd.DataFrame
    truth_customers: pd.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)
    contracts: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """The seven tables by name (as `sources` would load them)."""
        return {
            "customers": self.customers,
            "orders": self.orders,
            "interactions": self.interactions,
            "survey_responses": self.survey_responses,
            "survey_items": self.survey_items,
            "campaign_exposures": self.campaign_exposures,
            "contracts": self.contracts,
        }

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v):,}" for k, v in self.tables().items())
        return f"DemoData({sizes}, seed={self.truth.get('seed')})"


# --------------------------------------------------------------------------------------
# Specification and calendar
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    n_customers: int
    years: float
    seed: int
    analysis_date: pd.Timestamp
    rate_scale: float
    orders_per_customer: float | None

    # Derived, all in days since `origin` (midnight).
    @property
    def origin(self) -> pd.Timestamp:
        return self.window_start.normalize() - pd.Timedelta(days=math.ceil(_PRE_YEARS * 365.25) + 1)

    @property
    def window_start(self) -> pd.Timestamp:
        return self.analysis_date + pd.Timedelta(days=1 - round(self.years * 365.25))

    def day(self, ts: pd.Timestamp) -> float:
        return (ts - self.origin) / pd.Timedelta(days=1)

    @property
    def t0(self) -> float:  # start of the order window
        return self.day(self.window_start)

    @property
    def t_analysis_end(self) -> float:  # end of the analysis date (exclusive)
        return self.day(self.analysis_date) + 1.0

    @property
    def t_end(self) -> float:  # end of simulation
        return self.t_analysis_end + _AFTER_DAYS

    @property
    def n_units(self) -> int:
        return -(-self.n_customers // _UNIT)

    @property
    def id_width(self) -> int:
        return max(6, len(str(self.n_customers)))


@dataclass(frozen=True)
class _Calendar:
    """Daily purchase intensity (mean 1 over the order window) and its cumulative sum."""

    s: np.ndarray  # shape (2, D): row 0 B2C, row 1 B2B
    S: np.ndarray  # shape (2, D + 1)

    @staticmethod
    def build(spec: _Spec) -> _Calendar:
        n_days = int(math.ceil(spec.t_end)) + 1
        dates = spec.origin + pd.to_timedelta(np.arange(n_days), unit="D")
        doy = dates.day_of_year.to_numpy().astype(float)
        season = (
            1.0
            + 0.80 * np.exp(-0.5 * ((doy - 348) / 9.0) ** 2)  # December peak
            + 0.40 * np.exp(-0.5 * ((doy - 331) / 2.5) ** 2)  # Black Friday
            - 0.30 * np.exp(-0.5 * ((doy - 205) / 22.0) ** 2)  # summer dip
            - 0.12 * np.exp(-0.5 * ((doy - 10) / 8.0) ** 2)  # January lull
        )
        xmas = (dates.month == 12) & (dates.day >= 24) & (dates.day <= 26)
        season[np.asarray(xmas)] *= 0.35
        trend = np.exp(0.08 * (np.arange(n_days) - spec.t0) / 365.25)
        wd = dates.day_of_week.to_numpy()
        s = np.vstack([season * trend * _WEEKDAY_B2C[wd], season * trend * _WEEKDAY_B2B[wd]])
        lo, hi = int(math.floor(spec.t0)), int(math.ceil(spec.t_analysis_end))
        s = s / s[:, lo:hi].mean(axis=1, keepdims=True)
        S = np.concatenate([np.zeros((2, 1)), np.cumsum(s, axis=1)], axis=1)
        return _Calendar(s=s, S=S)

    def cum(self, t: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Cumulative intensity at times `t` (days) for calendar row `kind` (0/1)."""
        d = np.clip(np.floor(t).astype(np.int64), 0, self.s.shape[1] - 1)
        return self.S[kind, d] + (t - d) * self.s[kind, d]

    def day_of(self, y: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Day index whose cumulative intensity interval contains `y`."""
        out = np.empty(len(y), dtype=np.int64)
        for k in (0, 1):
            m = kind == k
            out[m] = np.searchsorted(self.S[k], y[m], side="right") - 1
        return np.clip(out, 0, self.s.shape[1] - 1)


def _make_spec(
    n_customers: int,
    years: float,
    seed: int,
    analysis_date: Any,
    orders_per_customer: float | None,
) -> _Spec:
    if (
        isinstance(n_customers, bool)
        or not isinstance(n_customers, (int, np.integer))
        or n_customers < 1
    ):
        raise DemoParameterError(f"n_customers must be a positive integer, got {n_customers!r}.")
    if not isinstance(years, (int, float)) or not 0.25 <= float(years) <= 20:
        raise DemoParameterError(f"years must be between 0.25 and 20, got {years!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DemoParameterError(f"seed must be a non-negative integer, got {seed!r}.")
    try:
        ad = pd.Timestamp(analysis_date)
    except (ValueError, TypeError) as exc:
        raise DemoParameterError(
            f"analysis_date must be a date such as '2026-09-30', got {analysis_date!r}."
        ) from exc
    if ad.tzinfo is not None:
        ad = ad.tz_convert(None)
    ad = ad.normalize()
    if orders_per_customer is not None and not 0.5 <= float(orders_per_customer) <= 10_000:
        raise DemoParameterError(
            f"orders_per_customer must be between 0.5 and 10000 (or None), got {orders_per_customer!r}."
        )
    spec = _Spec(int(n_customers), float(years), int(seed), ad, 1.0, None)
    if orders_per_customer is None:
        return spec
    scale = _calibrate_rate_scale(spec, float(orders_per_customer))
    return _Spec(int(n_customers), float(years), int(seed), ad, scale, float(orders_per_customer))


# --------------------------------------------------------------------------------------
# Per-unit generation
# --------------------------------------------------------------------------------------

_P = {
    k: np.array([p[k] for p in PERSONAS], dtype=float)
    for k in (
        "share",
        "b2b_share",
        "purchase_rate_per_year",
        "dropout_prob",
        "one_time_share",
        "mean_order_value_czk",
        "email_open_rate",
        "email_click_rate",
        "web_visits_per_order",
        "cart_abandon_per_order",
        "mean_age",
        "female_share",
    )
}
_MU = np.array([p["construct_means"] for p in PERSONAS], dtype=float)
_CAT_MIX = np.array([p["category_mix"] for p in PERSONAS], dtype=float)
_CHAN_MIX = np.array([p["channel_mix"] for p in PERSONAS], dtype=float)
# Group g = 2 * persona + is_b2b.
_CAT_CUM = np.cumsum(
    np.vstack([m for row in _CAT_MIX for m in (row, 0.5 * row + 0.5 * _B2B_CATEGORY_MIX)]), axis=1
)
_CHAN_CUM = np.cumsum(
    np.vstack([m for row in _CHAN_MIX for m in (row, 0.3 * row + 0.7 * _B2B_CHANNEL_MIX)]), axis=1
)
_CAT_PRICE_MEAN = (
    np.diff(np.concatenate([np.zeros((10, 1)), _CAT_CUM], axis=1), axis=1) @ _CATEGORY_PRICE
)


def _draw_cat(rng: np.random.Generator, cum: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Draw one category per row from the cumulative probability table `cum[rows]`."""
    u = rng.random(len(rows))
    return np.minimum((u[:, None] > cum[rows]).sum(axis=1), cum.shape[1] - 1)


@dataclass
class _Latent:
    """Latent customer parameters of one unit (all arrays of the unit's length)."""

    gidx: np.ndarray
    persona: np.ndarray
    b2b: np.ndarray
    created: np.ndarray  # days since origin
    lam0: np.ndarray  # purchases per day before scaling
    p0: np.ndarray  # dropout probability before scaling
    z: np.ndarray  # value factor (standard normal)
    aov: np.ndarray  # mean order value (CZK)
    acq: np.ndarray  # the sign-up comes with a purchase


def _unit_rngs(seed: int, unit: int) -> list[np.random.Generator]:
    ss = np.random.SeedSequence(seed, spawn_key=(unit,))
    return [np.random.default_rng(s) for s in ss.spawn(7)]  # a 7th stream keeps the first 6


def _latent(spec: _Spec, unit: int, rng: np.random.Generator) -> _Latent:
    lo = unit * _UNIT
    gidx = np.arange(lo, min(lo + _UNIT, spec.n_customers))
    m = len(gidx)
    persona = rng.choice(len(PERSONAS), size=m, p=_P["share"] / _P["share"].sum())
    b2b = rng.random(m) < _P["b2b_share"][persona]
    # Sign-up times are monotone in the customer number (ids are chronological).
    q = (gidx + rng.random(m)) / spec.n_customers
    pre_len = _PRE_YEARS * 365.25
    before = q < _SHARE_CREATED_BEFORE
    created = np.where(
        before,
        spec.t0 - pre_len + q / _SHARE_CREATED_BEFORE * pre_len,
        spec.t0
        + (q - _SHARE_CREATED_BEFORE)
        / (1 - _SHARE_CREATED_BEFORE)
        * (spec.t_analysis_end - 1 - spec.t0),
    )
    rate = _P["purchase_rate_per_year"][persona] * np.where(b2b, _B2B_RATE_MULT, 1.0)
    lam0 = rate * rng.gamma(_RATE_GAMMA_SHAPE, 1.0 / _RATE_GAMMA_SHAPE, size=m) / 365.25
    pm = _P["dropout_prob"][persona] * np.where(b2b, _B2B_DROPOUT_MULT, 1.0)
    p0 = rng.beta(pm * _DROPOUT_CONCENTRATION, (1 - pm) * _DROPOUT_CONCENTRATION)
    one_time = rng.random(m) < _P["one_time_share"][persona]
    p0 = np.where(one_time, 1.0, np.clip(p0, 1e-4, 1.0))
    z = rng.standard_normal(m)
    aov = (
        _P["mean_order_value_czk"][persona]
        * np.where(b2b, _B2B_VALUE_MULT, 1.0)
        * np.exp(_VALUE_SIGMA * z - _VALUE_SIGMA**2 / 2)
    )
    acq = rng.random(m) < _ACQUISITION_PURCHASE
    return _Latent(gidx, persona, b2b, created, lam0, p0, z, aov, acq)


@dataclass
class _Purchases:
    """The BTYD draw of one unit: counts, windows and dropout."""

    lam: np.ndarray
    p: np.ndarray
    start: np.ndarray  # window start (days)
    acq_in: np.ndarray  # acquisition purchase inside the window
    n_poisson: np.ndarray  # Poisson arrivals in the window had the customer stayed alive
    k: np.ndarray  # arrivals actually purchased (min of n_poisson and remaining life)
    died_pre: np.ndarray  # dropped out before the window
    died_at_acq: np.ndarray  # dropped out right after the acquisition purchase
    died_in: np.ndarray  # dropped out after the k-th arrival in the window


def _purchases(spec: _Spec, cal: _Calendar, lat: _Latent, rng: np.random.Generator) -> _Purchases:
    m = len(lat.gidx)
    kind = lat.b2b.astype(np.int64)
    lam = lat.lam0 * spec.rate_scale
    p = np.minimum(lat.p0 / spec.rate_scale, 1.0)
    pre = lat.created < spec.t0
    start = np.maximum(lat.created, spec.t0)
    # Before the window: alive at its start iff none of the M earlier purchases ended it.
    m_pre = np.where(
        pre,
        lat.acq
        + rng.poisson(
            lam * np.maximum(cal.cum(np.full(m, spec.t0), kind) - cal.cum(lat.created, kind), 0)
        ),
        0,
    )
    alive_t0 = np.where(pre, rng.random(m) < (1 - p) ** m_pre, True)
    life = rng.geometric(p)  # purchases until (and including) the one after which they leave
    acq_in = ~pre & lat.acq
    remaining = np.where(pre, np.where(alive_t0, life, 0), np.where(acq_in, life - 1, life))
    span = cal.cum(np.full(m, spec.t_end), kind) - cal.cum(start, kind)
    n_poisson = rng.poisson(lam * np.maximum(span, 0))
    k = np.minimum(n_poisson, remaining)
    return _Purchases(
        lam=lam,
        p=p,
        start=start,
        acq_in=acq_in,
        n_poisson=n_poisson,
        k=k,
        died_pre=pre & ~alive_t0,
        died_at_acq=acq_in & (life == 1),
        died_in=(remaining >= 1) & (n_poisson >= remaining),
    )


def _calibrate_rate_scale(spec: _Spec, target: float) -> float:
    """Scale of purchase rates (and 1/scale of dropout) giving `target` order rows per customer.

    Dividing the dropout probability by the same factor keeps the expected lifetime in
    calendar time, so the count grows roughly in proportion; a few fixed-point steps on a
    pilot sample of 20,000 latent customers settle the factor.
    """
    pilot = _Spec(20_000, spec.years, spec.seed, spec.analysis_date, 1.0, None)
    cal = _Calendar.build(pilot)
    lats = [_latent(pilot, u, _unit_rngs(spec.seed, u)[0]) for u in range(pilot.n_units)]
    extra = (1 + _SAME_DAY_REPEAT) * (1 + 0.031)  # same-day repeats and returns
    scale = 1.0
    for _ in range(6):
        s = _Spec(pilot.n_customers, pilot.years, pilot.seed, pilot.analysis_date, scale, None)
        rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(2**31,)))
        total = 0.0
        for lat in lats:
            pu = _purchases(s, cal, lat, rng)
            total += pu.k.sum() + pu.acq_in.sum()
        mean = total * extra / pilot.n_customers
        scale *= target / max(mean, 1e-9)
    return float(scale)


def _ts_array(spec: _Spec, days: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Days since origin -> Arrow timestamp[us] (whole seconds)."""
    origin_us = int(np.datetime64(spec.origin.to_datetime64(), "us").astype(np.int64))
    us = origin_us + np.round(days * 86_400).astype(np.int64) * 1_000_000
    return pa.array(us.view("M8[us]"), mask=mask)


def _take(
    vocab: tuple[str, ...] | list[str], idx: np.ndarray, mask: np.ndarray | None = None
) -> pa.Array:
    return pc.take(
        pa.array(list(vocab), type=pa.string()), pa.array(idx, type=pa.int64(), mask=mask)
    )


def _numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _time_of_day(rng: np.random.Generator, channel: np.ndarray) -> np.ndarray:
    """Fraction of a day (whole seconds) drawn from the channel's hour profile."""
    hour = np.minimum((rng.random(len(channel))[:, None] > _HOURS_CUM[channel]).sum(axis=1), 23)
    return (hour * 3600 + rng.integers(0, 3600, len(channel))) / 86_400


def _group_starts(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


@dataclass
class _UnitOrders:
    cust: np.ndarray  # local customer index
    t: np.ndarray  # days since origin, sorted ascending
    amount: np.ndarray
    quantity: np.ndarray
    category: np.ndarray
    channel: np.ndarray
    is_return: np.ndarray
    ref: np.ndarray  # local row of the returned order, -1 for sales
    death: np.ndarray  # per customer: dropout time (days), inf if still active at t_end
    alive_at_analysis: np.ndarray


def _orders(spec: _Spec, cal: _Calendar, lat: _Latent, rng: np.random.Generator) -> _UnitOrders:
    m = len(lat.gidx)
    kind = lat.b2b.astype(np.int64)
    pu = _purchases(spec, cal, lat, rng)

    # Poisson arrivals: the first k of n order statistics of uniforms, via exponential spacings.
    k = pu.k
    total = int(k.sum())
    cust = np.repeat(np.arange(m), k)
    starts = _group_starts(k)
    cs = np.cumsum(rng.exponential(size=total))
    before = np.concatenate([[0.0], cs])[starts]  # cumulative sum before each customer's rows
    g = cs - before[cust]
    last = np.zeros(m)
    has = k > 0
    last[has] = g[starts[has] + k[has] - 1]
    denom = last + rng.gamma(np.maximum(pu.n_poisson - k + 1, 1).astype(float))
    s_start = cal.cum(pu.start, kind)
    s_span = cal.cum(np.full(m, spec.t_end), kind) - s_start
    y = s_start[cust] + g / denom[cust] * s_span[cust]
    arr_day = cal.day_of(y, kind[cust]).astype(float)

    acq_c = np.flatnonzero(pu.acq_in)
    s_cust = np.concatenate([acq_c, cust])
    n_s = len(s_cust)
    grp = 2 * lat.persona[s_cust] + kind[s_cust]
    channel = _draw_cat(rng, _CHAN_CUM, grp)
    category = _draw_cat(rng, _CAT_CUM, grp)
    tod = _time_of_day(rng, channel)
    t = np.concatenate(
        [lat.created[acq_c] + rng.random(len(acq_c)) / 48, arr_day]
    ) + np.concatenate([np.zeros(len(acq_c)), tod[len(acq_c) :]])
    amount = np.round(
        lat.aov[s_cust]
        * _CATEGORY_PRICE[category]
        / _CAT_PRICE_MEAN[grp]
        * np.exp(_ORDER_SIGMA * rng.standard_normal(n_s) - _ORDER_SIGMA**2 / 2)
    )
    amount = np.maximum(amount, 29.0)
    quantity = 1 + rng.poisson(np.where(lat.b2b[s_cust], 6.0, 0.4))

    # Same-day repeat orders (a forgotten item a little later the same day).
    rep = np.flatnonzero(rng.random(n_s) < _SAME_DAY_REPEAT)
    r_cust = s_cust[rep]
    r_t = np.minimum(
        t[rep] + rng.uniform(0.2, 3.0, len(rep)) / 24, np.floor(t[rep]) + 86_399 / 86_400
    )
    r_grp = 2 * lat.persona[r_cust] + kind[r_cust]
    r_cat = _draw_cat(rng, _CAT_CUM, r_grp)
    r_amount = np.maximum(
        np.round(0.35 * lat.aov[r_cust] * np.exp(0.5 * rng.standard_normal(len(rep)) - 0.125)), 29.0
    )
    s_cust = np.concatenate([s_cust, r_cust])
    t = np.concatenate([t, r_t])
    amount = np.concatenate([amount, r_amount])
    quantity = np.concatenate([quantity, np.ones(len(rep), dtype=quantity.dtype)])
    category = np.concatenate([category, r_cat])
    channel = np.concatenate([channel, channel[rep]])
    n_s = len(s_cust)

    # Returns: a few days after the sale, full or partial, same category and channel.
    ret = np.flatnonzero(rng.random(n_s) < _CATEGORY_RETURN[category])
    partial = rng.random(len(ret)) < _PARTIAL_RETURN
    frac = np.where(partial, rng.uniform(0.2, 0.8, len(ret)), 1.0)
    ret_t = np.floor(t[ret]) + 2 + rng.poisson(4.0, len(ret)) + rng.uniform(9, 18, len(ret)) / 24
    ret_amount = -np.maximum(np.round(amount[ret] * frac), 1.0)
    ret_qty = -np.where(
        partial, np.maximum(1, np.round(quantity[ret] * frac)), quantity[ret]
    ).astype(quantity.dtype)

    all_t = np.concatenate([t, ret_t])
    order = np.argsort(all_t, kind="stable")
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    ref = np.concatenate([np.full(n_s, -1), inv[ret]])[order]

    # Dropout time: after the acquisition purchase, after the k-th arrival, or before the window.
    death = np.full(m, np.inf)
    death[pu.died_pre] = pu.start[pu.died_pre]
    death[pu.died_at_acq] = lat.created[pu.died_at_acq]
    di = pu.died_in & has
    # Arrival rows are offset by the acquisition rows in `t`.
    death[di] = t[len(acq_c) + starts[di] + k[di] - 1]
    alive = death >= spec.t_analysis_end
    return _UnitOrders(
        cust=np.concatenate([s_cust, s_cust[ret]])[order],
        t=all_t[order],
        amount=np.concatenate([amount, ret_amount])[order],
        quantity=np.concatenate([quantity, ret_qty])[order].astype(np.int64),
        category=np.concatenate([category, category[ret]])[order],
        channel=np.concatenate([channel, channel[ret]])[order],
        is_return=np.concatenate([np.zeros(n_s, bool), np.ones(len(ret), bool)])[order],
        ref=ref,
        death=death,
        alive_at_analysis=alive,
    )


_ORDERS_SCHEMA = pa.schema(
    [
        ("order_id", pa.string()),
        ("customer_id", pa.string()),
        ("order_date", pa.timestamp("us")),
        ("amount", pa.float64()),
        ("quantity", pa.int64()),
        ("category", pa.string()),
        ("channel", pa.string()),
        ("currency", pa.string()),
        ("is_return", pa.bool_()),
        ("original_order_id", pa.string()),
    ]
)

_INTERACTIONS_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("occurred_at", pa.timestamp("us")),
        ("kind", pa.string()),
        ("channel", pa.string()),
        ("detail", pa.string()),
    ]
)


def _orders_table(spec: _Spec, uo: _UnitOrders, cust_ids: pa.Array, offset: int) -> pa.Table:
    n = len(uo.t)
    numbers = offset + 1 + np.arange(n)
    ids = _numbered("O", numbers, 9)
    has_ref = uo.ref >= 0
    ref_numbers = offset + 1 + np.where(has_ref, uo.ref, 0)
    ref_ids = pc.if_else(
        pa.array(has_ref), _numbered("O", ref_numbers, 9), pa.scalar(None, pa.string())
    )
    return pa.table(
        [
            ids,
            pc.take(cust_ids, pa.array(uo.cust)),
            _ts_array(spec, uo.t),
            pa.array(uo.amount, type=pa.float64()),
            pa.array(uo.quantity, type=pa.int64()),
            _take(CATEGORIES, uo.category),
            _take(CHANNELS, uo.channel),
            pa.array(np.full(n, "CZK"), type=pa.string()),
            pa.array(uo.is_return),
            ref_ids,
        ],
        schema=_ORDERS_SCHEMA,
    )


# --- interactions ---------------------------------------------------------------------

_EMAIL_DETAIL = ("weekly newsletter", "product news", "seasonal sale", "loyalty club")
_WEB_PAGES = ("home", "category", "product", "cart", "blog", "account")
_CALL_DETAIL = ("order inquiry", "delivery question", "technical support", "price negotiation")
_MEETING_DETAIL = (
    "quarterly business review",
    "product demo",
    "contract negotiation",
    "onboarding",
)
_COMPLAINT_DETAIL = (
    "late delivery",
    "damaged goods",
    "wrong item",
    "billing error",
    "poor service",
)
_CONTRACT_DETAIL = ("Basic support", "Premium support", "Extended warranty")
_KINDS = (
    "email_open",
    "email_click",
    "web_visit",
    "cart_abandoned",
    "call",
    "meeting",
    "complaint",
    "service_contract",
)
_ICHANNELS = ("email", "web", "phone", "in_person", "video", "store", "b2b_portal")


def _uniform_events(
    rng: np.random.Generator, rate: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson(rate * length) events per customer, uniform in [lo, hi)."""
    length = np.maximum(hi - lo, 0)
    n = rng.poisson(rate * length)
    cust = np.repeat(np.arange(len(rate)), n)
    return cust, lo[cust] + rng.random(len(cust)) * length[cust]


def _interactions(
    spec: _Spec,
    lat: _Latent,
    uo: _UnitOrders,
    email_opt_in: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Interaction rows of one unit: (customer, time, kind, channel, detail) index arrays."""
    m = len(lat.gidx)
    per = lat.persona
    start = np.maximum(lat.created, spec.t0)
    end = np.full(m, spec.t_end)
    death = np.clip(uo.death, start, end)
    rows: list[tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]] = []

    def add(
        cust: np.ndarray, t: np.ndarray, kind: str, chan: np.ndarray | int, det: np.ndarray | int
    ) -> None:
        n = len(cust)
        rows.append(
            (
                cust,
                t,
                _KINDS.index(kind),
                np.broadcast_to(np.asarray(chan, dtype=np.int64), (n,)),
                np.broadcast_to(np.asarray(det, dtype=np.int64), (n,)),
            )
        )

    # Newsletter every other Tuesday 10:00; opens (fewer after dropout) and clicks.
    first_tue = (1 - spec.origin.weekday()) % 7
    sends = np.arange(first_tue + 10 / 24, spec.t_end, 14.0)
    open_mean = _P["email_open_rate"][per]
    open_rate = rng.beta(open_mean * 6, (1 - open_mean) * 6)
    for lo, hi, factor in ((start, death, 1.0), (death, end, 0.25)):
        i0 = np.searchsorted(sends, lo)
        i1 = np.searchsorted(sends, hi)
        n_sent = np.where(email_opt_in, np.maximum(i1 - i0, 0), 0)
        n_open = rng.binomial(n_sent, open_rate * factor)
        cust = np.repeat(np.arange(m), n_open)
        idx = i0[cust] + np.floor(rng.random(len(cust)) * n_sent[cust]).astype(np.int64)
        t_open = sends[idx] + rng.exponential(0.3, len(cust))
        det = rng.integers(0, len(_EMAIL_DETAIL), len(cust))
        add(cust, t_open, "email_open", 0, det)
        click = rng.random(len(cust)) < _P["email_click_rate"][per[cust]]
        cc = cust[click]
        c_grp = 2 * per[cc] + lat.b2b[cc]
        add(
            cc,
            t_open[click] + rng.exponential(2 / 1440, len(cc)),
            "email_click",
            0,
            len(_EMAIL_DETAIL) + _draw_cat(rng, _CAT_CUM, c_grp),
        )

    # Web visits and abandoned carts, mostly while the customer is active.
    orders_per_day = lat.lam0
    visit_rate = (2.0 / 365.25 + _P["web_visits_per_order"][per] * orders_per_day) * np.where(
        lat.b2b, 0.4, 1.0
    )
    for lo, hi, factor in ((start, death, 1.0), (death, end, 0.1)):
        cust, t = _uniform_events(rng, visit_rate * factor, lo, hi)
        add(cust, t, "web_visit", 1, rng.integers(0, len(_WEB_PAGES), len(cust)))
    cust, t = _uniform_events(rng, _P["cart_abandon_per_order"][per] * orders_per_day, start, death)
    grp = 2 * per[cust] + lat.b2b[cust]
    add(cust, t, "cart_abandoned", 1, len(_EMAIL_DETAIL) + _draw_cat(rng, _CAT_CUM, grp))

    # Calls (mostly B2B) and meetings (B2B only).
    cust, t = _uniform_events(rng, np.where(lat.b2b, 3.0, 0.15) / 365.25, start, end)
    add(cust, t, "call", 2, rng.integers(0, len(_CALL_DETAIL), len(cust)))
    cust, t = _uniform_events(rng, np.where(lat.b2b, 1.2, 0.0) / 365.25, start, death)
    add(
        cust,
        t,
        "meeting",
        np.where(rng.random(len(cust)) < 0.6, 3, 4),
        rng.integers(0, len(_MEETING_DETAIL), len(cust)),
    )

    # Complaints: about 2% of customers, a few days after one of their purchases.
    sales = ~uo.is_return & (uo.t < spec.t_analysis_end)
    s_cust = uo.cust[sales]
    s_t = uo.t[sales]
    n_sales = np.bincount(s_cust, minlength=m)
    by_c = np.argsort(s_cust, kind="stable")
    s_start = _group_starts(n_sales)
    comp = np.flatnonzero((n_sales > 0) & (rng.random(m) < 0.024))
    comp = np.concatenate([comp, comp[rng.random(len(comp)) < 0.15]])
    pick = s_start[comp] + np.floor(rng.random(len(comp)) * n_sales[comp]).astype(np.int64)
    t_comp = s_t[by_c[pick]] + rng.uniform(1, 10, len(comp))
    add(
        comp,
        t_comp,
        "complaint",
        rng.choice([0, 2, 5], len(comp), p=[0.5, 0.35, 0.15]),
        rng.integers(0, len(_COMPLAINT_DETAIL), len(comp)),
    )

    # Service contracts: 40% of B2B, 6% of B2C; signed once while active.
    sc = np.flatnonzero(
        (rng.random(m) < np.where(lat.b2b, 0.40, 0.06))
        & (death > start)
        & (start < spec.t_analysis_end)
    )
    t_sc = start[sc] + rng.random(len(sc)) * (
        np.minimum(death[sc], spec.t_analysis_end) - start[sc]
    )
    add(
        sc,
        t_sc,
        "service_contract",
        np.where(lat.b2b[sc], 6, np.where(rng.random(len(sc)) < 0.5, 5, 1)),
        np.where(lat.b2b[sc], rng.integers(0, 3, len(sc)), rng.choice([0, 2], len(sc))),
    )

    cust = np.concatenate([r[0] for r in rows])
    t = np.concatenate([r[1] for r in rows])
    kind = np.concatenate([np.full(len(r[0]), r[2]) for r in rows])
    chan = np.concatenate([r[3] for r in rows])
    det_code = np.concatenate([r[4] for r in rows])
    order = np.lexsort((kind, t))
    return cust[order], t[order], kind[order], chan[order], det_code[order]


def _detail_vocab(kind: int) -> tuple[str, ...]:
    name = _KINDS[kind]
    if name in ("email_open", "email_click", "cart_abandoned"):
        return _EMAIL_DETAIL + CATEGORIES
    return {
        "web_visit": _WEB_PAGES,
        "call": _CALL_DETAIL,
        "meeting": _MEETING_DETAIL,
        "complaint": _COMPLAINT_DETAIL,
        "service_contract": _CONTRACT_DETAIL,
    }[name]


# One flat vocabulary of details: offset per kind.
_DETAIL_OFFSET = {}
_DETAIL_VOCAB: list[str] = []
for _k in range(len(_KINDS)):
    _DETAIL_OFFSET[_k] = len(_DETAIL_VOCAB)
    _DETAIL_VOCAB.extend(_detail_vocab(_k))
_DETAIL_OFFSET_ARR = np.array([_DETAIL_OFFSET[k] for k in range(len(_KINDS))])


def _interactions_table(spec: _Spec, rows: tuple[np.ndarray, ...], cust_ids: pa.Array) -> pa.Table:
    cust, t, kind, chan, det = rows
    return pa.table(
        [
            pc.take(cust_ids, pa.array(cust)),
            _ts_array(spec, t),
            _take(_KINDS, kind),
            _take(_ICHANNELS, chan),
            _take(_DETAIL_VOCAB, _DETAIL_OFFSET_ARR[kind] + det),
        ],
        schema=_INTERACTIONS_SCHEMA,
    )


# --- customers ------------------------------------------------------------------------


def _customers_table(spec: _Spec, lat: _Latent, rng: np.random.Generator) -> pa.Table:
    m = len(lat.gidx)
    per = lat.persona
    b2b = lat.b2b
    b2c = ~b2b

    def miss(col: str, applies: np.ndarray) -> np.ndarray:
        return ~applies | (rng.random(m) < _MISSING[col])

    female = rng.random(m) < _P["female_share"][per]
    first_i = np.where(
        female, rng.integers(0, len(_FEMALE_FIRST), m), rng.integers(0, len(_MALE_FIRST), m)
    )
    sur_i = rng.integers(0, len(_SURNAMES), m)
    first = pc.if_else(pa.array(female), _take(_FEMALE_FIRST, first_i), _take(_MALE_FIRST, first_i))
    last = pc.if_else(
        pa.array(female),
        _take([s[1] for s in _SURNAMES], sur_i),
        _take([s[0] for s in _SURNAMES], sur_i),
    )
    first_a = pc.if_else(
        pa.array(female),
        _take([_ascii(x) for x in _FEMALE_FIRST], first_i),
        _take([_ascii(x) for x in _MALE_FIRST], first_i),
    )
    last_a = pc.if_else(
        pa.array(female),
        _take([_ascii(s[1]) for s in _SURNAMES], sur_i),
        _take([_ascii(s[0]) for s in _SURNAMES], sur_i),
    )
    suffix_kind = rng.random(m)
    suffix = np.where(
        suffix_kind < 0.55,
        0,
        np.where(suffix_kind < 0.8, rng.integers(1, 100, m), rng.integers(1950, 2006, m)),
    )
    suffix_s = pc.if_else(pa.array(suffix == 0), "", pc.cast(pa.array(suffix), pa.string()))
    domain = _take(_EMAIL_DOMAINS, rng.choice(len(_EMAIL_DOMAINS), m, p=_EMAIL_DOMAIN_W))
    person_email = pc.binary_join_element_wise(first_a, ".", last_a, suffix_s, "@", domain, "")
    person_name = pc.binary_join_element_wise(first, last, " ")

    # Companies: "Agrotech s.r.o." or "Dvořák Stavby s.r.o.".
    pattern_a = rng.random(m) < 0.6
    stem = rng.integers(0, len(_COMPANY_STEMS), m)
    tail = rng.integers(0, len(_COMPANY_TAILS), m)
    trade = rng.integers(0, len(_COMPANY_TRADES), m)
    legal = _take(_LEGAL_FORMS, rng.choice(len(_LEGAL_FORMS), m, p=_LEGAL_W))
    word_a = pc.binary_join_element_wise(
        _take(_COMPANY_STEMS, stem), _take(_COMPANY_TAILS, tail), ""
    )
    word_a_ascii = pc.binary_join_element_wise(
        _take([_ascii(x) for x in _COMPANY_STEMS], stem), _take(_COMPANY_TAILS, tail), ""
    )
    male_sur = _take([s[0] for s in _SURNAMES], sur_i)
    word_b = pc.binary_join_element_wise(male_sur, _take(_COMPANY_TRADES, trade), " ")
    word_b_ascii = pc.binary_join_element_wise(
        _take([_ascii(s[0]) for s in _SURNAMES], sur_i),
        _take([_ascii(x) for x in _COMPANY_TRADES], trade),
        "-",
    )
    company = pc.binary_join_element_wise(
        pc.if_else(pa.array(pattern_a), word_a, word_b), legal, " "
    )
    company_email = pc.binary_join_element_wise(
        _take(("info", "obchod", "objednavky", "kancelar"), rng.integers(0, 4, m)),
        "@",
        pc.if_else(pa.array(pattern_a), word_a_ascii, word_b_ascii),
        ".cz",
        "",
    )
    name = pc.if_else(pa.array(b2b), company, person_name)
    email = pc.if_else(pa.array(b2b), company_email, person_email)
    email = pc.if_else(
        pa.array(miss("email", np.ones(m, bool))), pa.scalar(None, pa.string()), email
    )

    phone_n = np.array(_MOBILE_PREFIXES)[
        rng.integers(0, len(_MOBILE_PREFIXES), m)
    ] * 1_000_000 + rng.integers(0, 1_000_000, m)
    ps = pc.cast(pa.array(phone_n), pa.string())
    phone = pc.binary_join_element_wise(
        "+420",
        pc.utf8_slice_codeunits(ps, 0, 3),
        pc.utf8_slice_codeunits(ps, 3, 6),
        pc.utf8_slice_codeunits(ps, 6, 9),
        " ",
    )
    phone = pc.if_else(
        pa.array(miss("phone", np.ones(m, bool))), pa.scalar(None, pa.string()), phone
    )

    gender = _take(("M", "F"), female.astype(np.int64), mask=miss("gender", b2c))
    age = np.clip(rng.normal(_P["mean_age"][per], 12.0), 18, 88)
    birth = np.floor(spec.day(spec.analysis_date) - age * 365.25)
    edu_cum = np.cumsum(np.array([p["education"] for p in PERSONAS]), axis=1)
    inc_cum = np.cumsum(np.array([p["income_band"] for p in PERSONAS]), axis=1)
    education = _take(EDUCATION, _draw_cat(rng, edu_cum, per), mask=miss("education", b2c))
    income = _take(INCOME_BANDS, _draw_cat(rng, inc_cum, per), mask=miss("income_band", b2c))

    city_i = rng.choice(len(_CITY), m, p=_CITY_P)
    postal_i = _POSTAL_START[city_i] + np.floor(rng.random(m) * _POSTAL_COUNT[city_i]).astype(
        np.int64
    )
    city_missing = miss("city", np.ones(m, bool))

    industry = _take(
        INDUSTRIES, rng.choice(len(INDUSTRIES), m, p=_INDUSTRY_W), mask=miss("industry", b2b)
    )
    employees = np.clip(np.round(np.exp(rng.normal(math.log(25), 1.3, m))), 1, 5000).astype(
        np.int64
    )
    revenue = np.round(employees * 2.5e6 * np.exp(rng.normal(-0.18, 0.6, m)), -3)

    email_opt = rng.random(m) < np.where(b2b, 0.85, 0.78)
    sms_opt = rng.random(m) < np.where(b2b, 0.30, 0.55)
    phone_opt = rng.random(m) < np.where(b2b, 0.75, 0.40)
    profiling = rng.random(m) < np.where(b2b, 0.60, 0.72)
    owner = pc.if_else(
        pa.array(b2b),
        _take(OWNERS_B2B, rng.integers(0, len(OWNERS_B2B), m)),
        _take(OWNERS_B2C, rng.integers(0, len(OWNERS_B2C), m)),
    )
    return pa.table(
        {
            "customer_id": _numbered("C", lat.gidx + 1, spec.id_width),
            "customer_type": _take(("B2C", "B2B"), b2b.astype(np.int64)),
            "name": name,
            "email": email,
            "phone": phone,
            "gender": gender,
            "birth_date": _ts_array(spec, birth, mask=miss("birth_date", b2c)),
            "education": education,
            "income_band": income,
            "country": pa.array(np.full(m, "CZ"), type=pa.string()),
            "region": _take(_CITY_REGION, city_i),
            "city": _take(_CITY, city_i, mask=city_missing),
            "postal_code": _take(_POSTAL, postal_i, mask=city_missing),
            "industry": industry,
            "employees": pa.array(employees, type=pa.int64(), mask=miss("employees", b2b)),
            "annual_revenue": pa.array(
                revenue, type=pa.float64(), mask=miss("annual_revenue", b2b)
            ),
            "email_opt_in": pa.array(email_opt),
            "sms_opt_in": pa.array(sms_opt),
            "phone_opt_in": pa.array(phone_opt),
            "profiling_consent": pa.array(profiling),
            "owner": owner,
            "created_at": _ts_array(spec, lat.created),
        }
    )


# --- survey ---------------------------------------------------------------------------

_ITEM_CONSTRUCT = np.array([CONSTRUCTS.index(it[1]) for it in SURVEY_ITEMS])
_ITEM_REVERSED = np.array([it[3] for it in SURVEY_ITEMS])
_ITEM_LOADING = np.array([it[4] for it in SURVEY_ITEMS])
_ITEM_INTERCEPT = np.array([it[5] for it in SURVEY_ITEMS])


def _survey_table(
    spec: _Spec, lat: _Latent, profiling: np.ndarray, cust_ids: pa.Array, rng: np.random.Generator
) -> pa.Table:
    m = len(lat.gidx)
    ok = (
        profiling
        & (lat.created < spec.t_analysis_end - 30)
        & (rng.random(m) < _SURVEY_RESPONSE_RATE)
    )
    resp = np.flatnonzero(ok)
    r = len(resp)
    eta = rng.normal(0.0, _SURVEY_TRAIT_SD, (r, len(CONSTRUCTS)))
    mu = _MU[lat.persona[resp]]
    latent = (
        mu[:, _ITEM_CONSTRUCT]
        + _ITEM_LOADING * eta[:, _ITEM_CONSTRUCT]
        + _ITEM_INTERCEPT
        + rng.normal(0.0, _SURVEY_NOISE_SD, (r, len(SURVEY_ITEMS)))
    )
    x = np.clip(np.round(latent), 1, 5)
    x = np.where(_ITEM_REVERSED, 6 - x, x)
    missing = rng.random(x.shape) < _SURVEY_MISSING
    sparse = rng.random(r) < _SURVEY_SPARSE_SHARE
    missing |= sparse[:, None] & (rng.random(x.shape) < rng.uniform(0.75, 0.92, r)[:, None])
    lo = np.maximum(lat.created[resp] + 7, spec.t_analysis_end - 200)
    hi = spec.t_analysis_end - 10
    answered = lo + rng.random(r) * np.maximum(hi - lo, 0)
    cols: dict[str, pa.Array] = {
        "customer_id": pc.take(cust_ids, pa.array(resp, type=pa.int64())),
        "answered_at": _ts_array(spec, answered),
    }
    for j, item in enumerate(SURVEY_ITEMS):
        cols[item[0]] = pa.array(
            np.where(missing[:, j], np.nan, x[:, j]), type=pa.float64(), from_pandas=True
        )
    return pa.table(cols)


# --- campaigns ------------------------------------------------------------------------

# Response propensity g = G0 + G1 * r of a customer at percentile r of pre_revenue among
# the exposed of their persona (mean of r exactly 1/2, so the mean of g is exactly 1).
_G0, _G1 = 0.1, 1.8


def _persona_percentile(x: np.ndarray, tie: np.ndarray, persona: np.ndarray) -> np.ndarray:
    """(rank - 1/2) / n of `x` (ties ordered by `tie`) within each persona; mean exactly 1/2."""
    r = np.empty(len(x))
    for k in range(len(PERSONAS)):
        sel = np.flatnonzero(persona == k)
        if len(sel):
            ranks = np.empty(len(sel))
            ranks[np.lexsort((tie[sel], x[sel]))] = np.arange(len(sel))
            r[sel] = (ranks + 0.5) / len(sel)
    return r


def _campaign_tables(
    spec: _Spec,
    lat: _Latent,
    uo: _UnitOrders,
    email_opt_in: np.ndarray,
    cust_ids: pa.Array,
    rng: np.random.Generator,
) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """Exposures of one unit, counts per (campaign, variant, persona) and the sums of
    `1.2 * g * mean_order_value` per (campaign, persona) that the revenue truth needs."""
    m = len(lat.gidx)
    sales = ~uo.is_return
    tables = []
    counts = np.zeros((len(CAMPAIGNS), 3, len(PERSONAS)), dtype=np.int64)
    value_sums = np.zeros((len(CAMPAIGNS), len(PERSONAS)))
    for ci, camp in enumerate(CAMPAIGNS):
        launch = (
            spec.day(spec.analysis_date) - camp["days_before_analysis"] + camp["launch_hour"] / 24
        )
        recent = sales & (uo.t >= launch - 365) & (uo.t < launch)
        active = np.bincount(uo.cust[recent], minlength=m) > 0
        eligible = active & (lat.created < launch)
        if camp["needs_email_opt_in"]:
            eligible &= email_opt_in
        idx = np.flatnonzero(eligible)
        if "sample_share" in camp:
            idx = idx[rng.random(len(idx)) < camp["sample_share"]]
        n = len(idx)
        variant = rng.choice(len(camp["variants"]), n, p=camp["shares"])
        span_s = camp.get("assignment_days", 4 / 24) * 86_400  # launch mail: within 4 hours
        assigned = launch + np.floor(rng.random(n) * span_s) / 86_400
        per = lat.persona[idx]
        # Net revenue (returns included) in the 90 days before the customer's assignment.
        at = np.full(m, np.nan)
        at[idx] = assigned
        a_row = at[uo.cust]
        in_pre = (uo.t >= a_row - 90) & (uo.t < a_row)
        pre = np.round(np.bincount(uo.cust[in_pre], weights=uo.amount[in_pre], minlength=m)[idx], 2)
        # Percentile of pre_revenue among the exposed of the same persona (ties by order value).
        r = _persona_percentile(pre, lat.aov[idx], per)
        effects = np.vstack(
            [np.zeros(len(PERSONAS))] + [camp["effects"][v] for v in camp["variants"][1:]]
        )
        g = _G0 + _G1 * r  # response propensity, mean exactly 1 within each persona
        prob = (np.asarray(camp["baseline"])[per] + effects[variant, per]) * g
        converted = rng.random(n) < prob
        spend = (
            _CAMPAIGN_SPEND_MULT
            * lat.aov[idx]
            * np.asarray(camp["spend_multiplier"])[variant]
            * np.exp(_CAMPAIGN_SPEND_SIGMA * rng.standard_normal(n) - _CAMPAIGN_SPEND_SIGMA**2 / 2)
        )
        revenue = np.where(converted, np.round(spend, 2), 0.0)
        np.add.at(counts[ci], (variant, per), 1)
        np.add.at(value_sums[ci], per, _CAMPAIGN_SPEND_MULT * g * lat.aov[idx])
        tables.append(
            pa.table(
                {
                    "customer_id": pc.take(cust_ids, pa.array(idx, type=pa.int64())),
                    "campaign_id": pa.array(np.full(n, camp["campaign_id"]), type=pa.string()),
                    "variant": _take(camp["variants"], variant),
                    "assigned_at": _ts_array(spec, assigned),
                    "converted": pa.array(converted.astype(np.int64)),
                    "revenue": pa.array(revenue, type=pa.float64()),
                    "pre_revenue": pa.array(pre, type=pa.float64()),
                }
            )
        )
    return pa.concat_tables(tables), counts, value_sums


# --- service contracts ----------------------------------------------------------------

#: Monthly service contracts, signed where the interactions log a "service_contract". Each
#: contract renews every month with its own churn probability theta ~ Beta(alpha, beta) of its
#: plan (the shifted-beta-geometric model, Fader & Hardie 2007) and ends after L ~ Geometric(theta)
#: months; one still running on the analysis date has no end_date.
CONTRACT_PLANS: dict[str, dict[str, float]] = {
    "Business care": {"alpha": 1.2, "beta": 14.0, "period_value": 2490.0},  # B2B
    "Home care": {"alpha": 0.9, "beta": 6.0, "period_value": 390.0},  # B2C
}


def _contracts_table(
    spec: _Spec, inter: pa.Table, customers: pa.Table, rng: np.random.Generator
) -> pa.Table:
    """One contract per service_contract interaction: plan by customer type, a life in months."""
    signed = pc.equal(inter["kind"], "service_contract")
    cid = pc.filter(inter["customer_id"], signed).to_numpy(zero_copy_only=False)
    start = pc.filter(inter["occurred_at"], signed).to_pandas()
    kind = dict(
        zip(
            customers["customer_id"].to_pylist(),
            customers["customer_type"].to_pylist(),
            strict=True,
        )
    )
    plan = np.array(["Business care" if kind.get(c) == "B2B" else "Home care" for c in cid])
    a = np.array([CONTRACT_PLANS[p]["alpha"] for p in plan])
    b = np.array([CONTRACT_PLANS[p]["beta"] for p in plan])
    life = rng.geometric(rng.beta(a, b)) if len(cid) else np.array([], dtype=np.int64)
    day = pd.Timestamp(spec.analysis_date).normalize() + pd.Timedelta(days=1)
    start = pd.to_datetime(start).dt.normalize().reset_index(drop=True)
    # a life beyond the analysis date only means "still active": capped so the date stays valid
    ends = [s + pd.DateOffset(months=int(min(n, 1200))) for s, n in zip(start, life, strict=True)]
    end = pd.Series([e if e < day else pd.NaT for e in ends], dtype="datetime64[us]")
    return pa.table(
        {
            "contract_id": pa.array(["SC-" + str(c) for c in cid], type=pa.string()),
            "customer_id": pa.array(cid, type=pa.string()),
            "plan": pa.array(plan, type=pa.string()),
            "start_date": pa.array(start.astype("datetime64[us]"), type=pa.timestamp("us")),
            "end_date": pa.array(end, type=pa.timestamp("us")),
            "period_value": pa.array([CONTRACT_PLANS[p]["period_value"] for p in plan]),
        }
    )


# --- one unit -------------------------------------------------------------------------


@dataclass
class _UnitResult:
    customers: pa.Table | None
    orders: pa.Table
    interactions: pa.Table | None
    survey: pa.Table | None
    exposures: pa.Table | None
    truth_customers: pa.Table | None
    exposure_counts: np.ndarray | None
    exposure_value_sums: np.ndarray | None
    contracts: pa.Table | None = None


def _unit(
    spec: _Spec, cal: _Calendar, unit: int, order_offset: int, orders_only: bool = False
) -> _UnitResult:
    r_lat, r_prof, r_ord, r_int, r_srv, r_cmp, r_con = _unit_rngs(spec.seed, unit)
    lat = _latent(spec, unit, r_lat)
    uo = _orders(spec, cal, lat, r_ord)
    cust_ids = _numbered("C", lat.gidx + 1, spec.id_width)
    orders = _orders_table(spec, uo, cust_ids, order_offset)
    if orders_only:
        return _UnitResult(None, orders, None, None, None, None, None, None)
    customers = _customers_table(spec, lat, r_prof)
    email_opt = customers["email_opt_in"].to_numpy()
    profiling = customers["profiling_consent"].to_numpy()
    inter = _interactions_table(spec, _interactions(spec, lat, uo, email_opt, r_int), cust_ids)
    survey = _survey_table(spec, lat, profiling, cust_ids, r_srv)
    exposures, counts, value_sums = _campaign_tables(spec, lat, uo, email_opt, cust_ids, r_cmp)
    truth_c = pa.table(
        {
            "customer_id": cust_ids,
            "persona": _take([p["name"] for p in PERSONAS], lat.persona),
            "persona_id": pa.array(lat.persona.astype(np.int64)),
            "purchase_rate_per_year": pa.array(lat.lam0 * spec.rate_scale * 365.25),
            "dropout_prob": pa.array(np.minimum(lat.p0 / spec.rate_scale, 1.0)),
            "mean_order_value": pa.array(lat.aov),
            "alive_at_analysis_date": pa.array(uo.alive_at_analysis),
        }
    )
    contracts = _contracts_table(spec, inter, customers, r_con)
    return _UnitResult(
        customers, orders, inter, survey, exposures, truth_c, counts, value_sums, contracts
    )


# --------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------


class _Stats:
    """Running totals over units, for truth.json."""

    def __init__(self) -> None:
        self.sizes = dict.fromkeys(
            (
                "customers",
                "b2b_customers",
                "orders",
                "returns",
                "orders_after_analysis_date",
                "interactions",
                "complaint_customers",
                "survey_respondents",
                "campaign_exposures",
                "contracts",
            ),
            0,
        )
        self.exposure_counts = np.zeros((len(CAMPAIGNS), 3, len(PERSONAS)), dtype=np.int64)
        self.persona_counts = np.zeros(len(PERSONAS), dtype=np.int64)
        self.value_sums = np.zeros((len(CAMPAIGNS), len(PERSONAS)))

    def add(self, spec: _Spec, r: _UnitResult) -> None:
        after = spec.analysis_date + pd.Timedelta(days=1)
        o = r.orders
        self.sizes["orders"] += o.num_rows
        self.sizes["returns"] += int(pc.sum(o["is_return"]).as_py() or 0)
        self.sizes["orders_after_analysis_date"] += int(
            pc.sum(
                pc.greater_equal(
                    o["order_date"],
                    pa.scalar(after.as_unit("us").to_datetime64(), pa.timestamp("us")),
                )
            ).as_py()
            or 0
        )
        if r.customers is None:
            return
        self.sizes["customers"] += r.customers.num_rows
        self.sizes["b2b_customers"] += int(
            pc.sum(pc.equal(r.customers["customer_type"], "B2B")).as_py() or 0
        )
        self.sizes["interactions"] += r.interactions.num_rows
        comp = pc.filter(
            r.interactions["customer_id"], pc.equal(r.interactions["kind"], "complaint")
        )
        self.sizes["complaint_customers"] += len(pc.unique(comp))
        self.sizes["survey_respondents"] += r.survey.num_rows
        self.sizes["campaign_exposures"] += r.exposures.num_rows
        self.sizes["contracts"] += r.contracts.num_rows
        self.exposure_counts += r.exposure_counts
        self.value_sums += r.exposure_value_sums
        self.persona_counts += np.bincount(
            r.truth_customers["persona_id"].to_numpy(), minlength=len(PERSONAS)
        )


def _effects(ci: int, stats: _Stats) -> list[dict[str, Any]]:
    """True effects of campaign `ci` by variant and persona (see the module docstring)."""
    camp = CAMPAIGNS[ci]
    out = []
    u = dict(zip(camp["variants"], camp["spend_multiplier"], strict=True))
    for v in camp["variants"][1:]:
        for k, p in enumerate(PERSONAS):
            b = camp["baseline"][k]
            d = camp["effects"][v][k]
            n_k = int(stats.exposure_counts[ci, :, k].sum())
            a_k = float(stats.value_sums[ci, k] / n_k) if n_k else 0.0
            out.append(
                {
                    "campaign_id": camp["campaign_id"],
                    "variant": v,
                    "persona": p["name"],
                    "persona_id": k,
                    "n_exposed": n_k,
                    "baseline_conversion": float(b),
                    "true_effect_conversion": float(d),
                    "value_factor": a_k,
                    "baseline_revenue_per_customer": a_k * b,
                    "true_effect_revenue_per_customer": a_k * ((b + d) * u[v] - b),
                }
            )
    return out


def _truth(spec: _Spec, stats: _Stats) -> dict[str, Any]:
    effects = [e for ci in range(len(CAMPAIGNS)) for e in _effects(ci, stats)]
    overall = []
    for ci, camp in enumerate(CAMPAIGNS):
        n_k = stats.exposure_counts[ci].sum(axis=0).astype(float)
        if n_k.sum() == 0:
            continue
        w = n_k / n_k.sum()
        for v in camp["variants"][1:]:
            es = [
                e for e in effects if e["campaign_id"] == camp["campaign_id"] and e["variant"] == v
            ]
            overall.append(
                {
                    "campaign_id": camp["campaign_id"],
                    "variant": v,
                    "persona_weights": {
                        e["persona"]: float(wk) for e, wk in zip(es, w, strict=True)
                    },
                    "true_effect_conversion": float(
                        sum(wk * e["true_effect_conversion"] for e, wk in zip(es, w, strict=True))
                    ),
                    "true_effect_revenue_per_customer": float(
                        sum(
                            wk * e["true_effect_revenue_per_customer"]
                            for e, wk in zip(es, w, strict=True)
                        )
                    ),
                }
            )
    exposures = []
    for ci, camp in enumerate(CAMPAIGNS):
        for vi, v in enumerate(camp["variants"]):
            for k, p in enumerate(PERSONAS):
                exposures.append(
                    {
                        "campaign_id": camp["campaign_id"],
                        "variant": v,
                        "persona": p["name"],
                        "n": int(stats.exposure_counts[ci, vi, k]),
                    }
                )
    behaviour_keys = (
        "b2b_share",
        "purchase_rate_per_year",
        "dropout_prob",
        "one_time_share",
        "mean_order_value_czk",
        "email_open_rate",
        "email_click_rate",
        "web_visits_per_order",
        "cart_abandon_per_order",
        "mean_age",
        "female_share",
    )
    personas = []
    for k, p in enumerate(PERSONAS):
        personas.append(
            {
                "persona_id": k,
                "name": p["name"],
                "share": float(p["share"]),
                "n_customers": int(stats.persona_counts[k]),
                "construct_means": dict(
                    zip(CONSTRUCTS, map(float, p["construct_means"]), strict=True)
                ),
                "behaviour": {
                    **{key: float(p[key]) for key in behaviour_keys},
                    "category_mix": dict(
                        zip(CATEGORIES, map(float, p["category_mix"]), strict=True)
                    ),
                    "channel_mix_b2c": dict(
                        zip(CHANNELS, map(float, p["channel_mix"]), strict=True)
                    ),
                    "education": dict(zip(EDUCATION, map(float, p["education"]), strict=True)),
                    "income_band": dict(
                        zip(INCOME_BANDS, map(float, p["income_band"]), strict=True)
                    ),
                },
            }
        )
    return {
        "generator": "segwork.demo",
        "generator_version": GENERATOR_VERSION,
        "seed": spec.seed,
        "n_customers": spec.n_customers,
        "years": spec.years,
        "analysis_date": spec.analysis_date.date().isoformat(),
        "window_start": spec.window_start.date().isoformat(),
        "orders_per_customer_target": spec.orders_per_customer,
        "rate_scale": spec.rate_scale,
        "currency": "CZK",
        "sizes": {k: int(v) for k, v in stats.sizes.items()},
        "conventions": {
            "after_analysis_date": "order_date >= analysis_date + 1 day (orders during the analysis date count as before it)",
            "returns": "is_return rows have negative amount and quantity; original_order_id is an earlier order of the same customer",
            "survey_items": "reverse-coded items are stored as answered (6 - x of the construct direction); flip them before averaging",
            "pre_revenue": "net order amount (returns included) in the 90 days before assigned_at",
            "campaign_revenue": "coupon-attributed spend within attribution_days after assigned_at; not part of orders",
        },
        "purchase_model": {
            "process": "Poisson purchases with seasonal/weekly intensity (mean 1 over the window); after each purchase the customer drops out with probability p (BG/NBD)",
            "rate_heterogeneity_gamma_shape": _RATE_GAMMA_SHAPE,
            "dropout_beta_concentration": _DROPOUT_CONCENTRATION,
            "b2b_rate_multiplier": _B2B_RATE_MULT,
            "b2b_value_multiplier": _B2B_VALUE_MULT,
            "b2b_dropout_multiplier": _B2B_DROPOUT_MULT,
            "value_sigma": _VALUE_SIGMA,
            "order_sigma": _ORDER_SIGMA,
            "acquisition_purchase_share": _ACQUISITION_PURCHASE,
            "same_day_repeat_share": _SAME_DAY_REPEAT,
            "return_probability_by_category": dict(
                zip(CATEGORIES, map(float, _CATEGORY_RETURN), strict=True)
            ),
        },
        "constructs": list(CONSTRUCTS),
        "items": [
            {
                "item": it[0],
                "construct": it[1],
                "text": it[2],
                "reverse_coded": bool(it[3]),
                "loading": float(it[4]),
                "intercept": float(it[5]),
            }
            for it in SURVEY_ITEMS
        ],
        "survey_model": {
            "answer": "clip(round(mu[persona, construct] + loading * eta + intercept + noise), 1, 5); reverse-coded items stored as 6 - answer",
            "trait_sd": _SURVEY_TRAIT_SD,
            "noise_sd": _SURVEY_NOISE_SD,
            "response_rate_given_profiling_consent": _SURVEY_RESPONSE_RATE,
            "missing_share": _SURVEY_MISSING,
            "sparse_respondent_share": _SURVEY_SPARSE_SHARE,
        },
        "personas": personas,
        "contracts_model": {
            "model": "shifted-beta-geometric: monthly renewals, churn theta ~ Beta(alpha, beta) per "
            "contract of a plan, life L ~ Geometric(theta) months from start_date (end_date = "
            "start_date + L calendar months; empty when after the analysis date). Plan: Business "
            "care for B2B customers, Home care otherwise; one contract per service_contract "
            "interaction",
            "plans": {k: dict(v) for k, v in CONTRACT_PLANS.items()},
        },
        "campaigns": [
            {
                "campaign_id": c["campaign_id"],
                "launch": (
                    spec.analysis_date
                    - pd.Timedelta(days=c["days_before_analysis"])
                    + pd.Timedelta(hours=c["launch_hour"])
                ).isoformat(),
                "attribution_days": c["attribution_days"],
                "assignment_days": c.get("assignment_days", 4 / 24),
                "sample_share": c.get("sample_share", 1.0),
                "eligibility": c["eligibility"],
                "variants": dict(zip(c["variants"], map(float, c["shares"]), strict=True)),
                "spend_multiplier": dict(
                    zip(c["variants"], map(float, c["spend_multiplier"]), strict=True)
                ),
            }
            for c in CAMPAIGNS
        ],
        "campaign_model": {
            "percentile": "r = (rank - 1/2) / n of pre_revenue among the exposed customers of the same persona and campaign, within each generation batch of 1,000 customers (customer numbers 1-1000, 1001-2000, ...; ties ordered by mean_order_value); its mean is exactly 1/2 in every group",
            "conversion": "P(converted) = (baseline[persona] + effect[variant, persona]) * g, g = G0 + G1 * r (mean exactly 1 over the exposed of a persona)",
            "revenue": "converted * 1.2 * mean_order_value * spend_multiplier[variant] * lognormal(mean 1, sigma s_e); mean_order_value is the customer's own (truth/customers.parquet)",
            "G0": _G0,
            "G1": _G1,
            "spend_over_mean_order_value": _CAMPAIGN_SPEND_MULT,
            "s_e": _CAMPAIGN_SPEND_SIGMA,
            "true_effect_conversion": "effect[variant, persona]",
            "value_factor": "A = mean over the exposed of the persona (all variants) of 1.2 * g * mean_order_value",
            "true_effect_revenue_per_customer": "A * ((baseline + effect) * spend_multiplier - baseline): the exact expected difference in revenue per exposed customer, averaged over the exposed of the persona",
            "overall": "campaign_effects_overall weights the persona effects by the personas' shares of all exposed customers of the campaign",
        },
        "campaign_effects": effects,
        "campaign_effects_overall": overall,
        "campaign_exposure_counts": exposures,
    }


def _survey_items_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item": [it[0] for it in SURVEY_ITEMS],
            "construct": [it[1] for it in SURVEY_ITEMS],
            "text": [it[2] for it in SURVEY_ITEMS],
            "reverse_coded": [bool(it[3]) for it in SURVEY_ITEMS],
        }
    )


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _iter_units(spec: _Spec, orders_only: bool = False) -> Iterator[_UnitResult]:
    cal = _Calendar.build(spec)
    offset = 0
    for u in range(spec.n_units):
        r = _unit(spec, cal, u, offset, orders_only=orders_only)
        offset += r.orders.num_rows
        yield r


def _to_pandas(tables: list[pa.Table], schema: pa.Schema | None = None) -> pd.DataFrame:
    tbl = pa.concat_tables(tables) if tables else schema.empty_table()
    return tbl.to_pandas()


def generate(
    n_customers: int = 20_000,
    *,
    years: float = 2.0,
    seed: int = 42,
    analysis_date: Any = "2026-09-30",
    orders_per_customer: float | None = None,
) -> DemoData:
    """Generate the demo CRM in memory (use `write_demo` for files or large sizes)."""
    spec = _make_spec(n_customers, years, seed, analysis_date, orders_per_customer)
    stats = _Stats()
    parts: dict[str, list[pa.Table]] = {k: [] for k in "coisetk"}
    for r in _iter_units(spec):
        stats.add(spec, r)
        for key, tbl in zip("coisetk", _unit_tables(r), strict=True):
            parts[key].append(tbl)
    customers = _to_pandas(parts["c"])
    customers["employees"] = customers["employees"].astype("Int64")
    return DemoData(
        customers=customers,
        orders=_to_pandas(parts["o"]),
        interactions=_to_pandas(parts["i"]),
        survey_responses=_to_pandas(parts["s"]),
        survey_items=_survey_items_frame(),
        campaign_exposures=_to_pandas(parts["e"]),
        truth_customers=_to_pandas(parts["t"]),
        truth=_truth(spec, stats),
        contracts=_to_pandas(parts["k"]),
    )


def _unit_tables(r: _UnitResult) -> tuple[pa.Table | None, ...]:
    """A unit's tables in the order of the keys "coisetk"."""
    return (
        r.customers, r.orders, r.interactions, r.survey, r.exposures, r.truth_customers,
        r.contracts,
    )  # fmt: skip


class _CsvSink:
    """Appends Arrow tables to a CSV file through pandas (stable formatting)."""

    def __init__(self, path: Path, int_columns: tuple[str, ...] = ()) -> None:
        self.path = path
        self.header = True
        self.int_columns = int_columns
        path.write_text("", encoding="utf-8")

    def write(self, tbl: pa.Table) -> None:
        df = tbl.to_pandas()
        for col in self.int_columns:
            if col in df:
                df[col] = df[col].astype("Int64")
        df.to_csv(self.path, mode="a", header=self.header, index=False, encoding="utf-8")
        self.header = False


def write_demo(
    out_dir: str | Path = "data/demo",
    n_customers: int = 20_000,
    *,
    years: float = 2.0,
    seed: int = 42,
    analysis_date: Any = "2026-09-30",
    orders_per_customer: float | None = None,
    chunk_rows: int = 1_000_000,
) -> Path:
    """Write the demo layout to `out_dir` in chunks; return the directory.

    Memory stays bounded by `chunk_rows` buffered order rows (plus the same number of
    interaction rows), so benchmark files of 10^8 orders can be written. The rows equal
    those of `generate()` with the same arguments, whatever `chunk_rows` is.
    """
    spec = _make_spec(n_customers, years, seed, analysis_date, orders_per_customer)
    if chunk_rows < 1:
        raise DemoParameterError(f"chunk_rows must be positive, got {chunk_rows!r}.")
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    item_cols = tuple(it[0] for it in SURVEY_ITEMS)
    sinks = {
        "c": _CsvSink(out / "customers.csv", ("employees",)),
        "s": _CsvSink(out / "survey_responses.csv", item_cols),
        "e": _CsvSink(out / "campaign_exposures.csv"),
        "k": _CsvSink(out / "contracts.csv"),
    }
    writers = {
        "o": pq.ParquetWriter(out / "orders.parquet", _ORDERS_SCHEMA),
        "i": pq.ParquetWriter(out / "interactions.parquet", _INTERACTIONS_SCHEMA),
        "t": None,
    }
    buf: dict[str, list[pa.Table]] = {k: [] for k in "coisetk"}
    stats = _Stats()

    def flush() -> None:
        for key, items in buf.items():
            if not items:
                continue
            tbl = pa.concat_tables(items)
            if key in sinks:
                sinks[key].write(tbl)
            elif key == "t":
                if writers["t"] is None:
                    writers["t"] = pq.ParquetWriter(out / "truth" / "customers.parquet", tbl.schema)
                writers["t"].write_table(tbl)
            else:
                writers[key].write_table(tbl)
            items.clear()

    try:
        for r in _iter_units(spec):
            stats.add(spec, r)
            for key, tbl in zip("coisetk", _unit_tables(r), strict=True):
                buf[key].append(tbl)
            if (
                sum(t.num_rows for t in buf["o"]) >= chunk_rows
                or sum(t.num_rows for t in buf["i"]) >= chunk_rows
            ):
                flush()
                progress.say(f"demo data: {stats.sizes['orders']:,} orders written")
        flush()
    finally:
        for w in writers.values():
            if w is not None:
                w.close()
    _survey_items_frame().to_csv(out / "survey_items.csv", index=False, encoding="utf-8")
    truth = _truth(spec, stats)
    (out / "truth" / "truth.json").write_text(
        json.dumps(truth, indent=2, ensure_ascii=False, allow_nan=False), encoding="utf-8"
    )
    return out


def write_orders_only(
    path: str | Path,
    n_orders: int,
    seed: int = 0,
    *,
    orders_per_customer: float = 20.0,
    years: float = 2.0,
    analysis_date: Any = "2026-09-30",
    chunk_rows: int = 1_000_000,
) -> int:
    """Write just an orders Parquet file of about `n_orders` rows; return the actual count.

    Uses `n_orders / orders_per_customer` customers. The rows equal the orders of
    `write_demo` with that many customers, the same seed and `orders_per_customer`.
    """
    if isinstance(n_orders, bool) or not isinstance(n_orders, (int, np.integer)) or n_orders < 1:
        raise DemoParameterError(f"n_orders must be a positive integer, got {n_orders!r}.")
    n_customers = max(1, round(n_orders / float(orders_per_customer)))
    spec = _make_spec(n_customers, years, seed, analysis_date, orders_per_customer)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    total = 0
    buf: list[pa.Table] = []
    with pq.ParquetWriter(path, _ORDERS_SCHEMA) as writer:
        for r in _iter_units(spec, orders_only=True):
            buf.append(r.orders)
            total += r.orders.num_rows
            if sum(t.num_rows for t in buf) >= chunk_rows:
                writer.write_table(pa.concat_tables(buf))
                buf.clear()
                progress.say(f"orders: {total:,} of about {n_orders:,} rows written to {path}")
        if buf:
            writer.write_table(pa.concat_tables(buf))
    return total
