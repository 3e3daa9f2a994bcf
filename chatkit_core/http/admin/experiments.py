"""Experiment results: the console's page (``/admin/experiments``) and the operator API's JSON
(``GET /admin/api/experiments``, bearer token or console cookie), both from the stored
conversations (:mod:`chatkit_core.chat.experiment_results`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.di import NamedDependency

from chatkit_core.chat.experiment_results import (
    MIN_SAMPLE,
    ExperimentResult,
    Rate,
    Results,
    ResultsCache,
    VariantResult,
)
from chatkit_core.http.admin.bearer import operator_api
from chatkit_core.http.admin.pages import render
from chatkit_core.platform.runtime import Runtime

RATES = {"up": "Thumbs up", "declined": "Declined", "followUp": "Follow-ups", "fallback": "Fallbacks",
         "error": "Errors", "handoff": "Handoffs"}
"""Each rate the results give, with its column heading."""
OPERATOR_API = {"public": True}
"""Not behind the console's sign-in redirect: :func:`operator_api` guards it (bearer or cookie)."""


async def _results(request: Request, runtime: Runtime) -> Results:
    cache: ResultsCache = request.app.state.experiment_results
    listing = runtime.listing
    assert listing is not None  # the console is mounted only over a store that lists conversations
    return await cache.get(runtime.store, listing, runtime.experiments, runtime.knowledge is not None)


@get("/experiments")
async def experiments_page(request: Request, runtime: NamedDependency[Runtime]) -> Response:
    results = await _results(request, runtime)
    return render(request, "experiments.html", results=results, rates=RATES, min_sample=MIN_SAMPLE,
                  grounded=runtime.knowledge is not None)


@get("/api/experiments", opt=OPERATOR_API, guards=[operator_api])
async def experiments_api(request: Request, runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
    results = await _results(request, runtime)
    body = {"experiments": [_experiment(e) for e in results.experiments],
            "conversations": results.conversations, "sampled": results.sampled, "minSample": MIN_SAMPLE}
    return Response(body, headers={"Cache-Control": "no-store"})


def _experiment(result: ExperimentResult) -> dict[str, Any]:
    apart = {name: result.apart(name) for name in RATES}
    variants = [_variant(row, apart) for row in result.variants]
    return {"name": result.name, "enabled": result.enabled, "variants": variants}


def _variant(row: VariantResult, apart: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "name": row.name, "weight": row.weight, "conversations": row.conversations, "questions": row.questions,
        "answers": row.answers, "up": row.up, "down": row.down, "declined": row.declined, "handoffs": row.handoffs,
        "followUps": row.followed_up, "fallbacks": row.fallbacks, "errors": row.errors,
        "ttftMs": {"p50": row.ttft_ms.percentile(50), "p90": row.ttft_ms.percentile(90)},
        "chars": {"p50": row.chars.percentile(50), "p90": row.chars.percentile(90)},
        "rates": {name: _rate(rate, apart[name].get(row.name)) for name, rate in row.rates().items()},
    }


def _rate(rate: Rate, apart: str | None) -> dict[str, Any]:
    low, high = rate.interval
    return {"value": rate.value, "low": round(low, 4), "high": round(high, 4), "n": rate.n, "enough": rate.enough,
            "apart": apart}


HANDLERS = [experiments_page, experiments_api]
