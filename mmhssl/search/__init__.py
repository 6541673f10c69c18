"""Label-free search for the auxiliary head and base/auxiliary discrepancy measures."""
from .candidates import CANDIDATES, neck_snippet, resolve_candidate
from .discrepancy import discrepancy_measures, distillation_ce, hssl_discrepancy, linear_cka
from .trainer import build_search_model, format_table, plot_history, run_search, to_json

__all__ = [
    'CANDIDATES', 'resolve_candidate', 'neck_snippet', 'linear_cka', 'distillation_ce',
    'discrepancy_measures', 'hssl_discrepancy', 'run_search', 'build_search_model', 'format_table',
    'plot_history', 'to_json'
]
