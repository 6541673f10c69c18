from .distributed import init_cpu_process_group  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .param_schedulers import leave_out_schedulers_after_training  # noqa: F401
