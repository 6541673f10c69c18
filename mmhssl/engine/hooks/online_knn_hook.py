"""kNN accuracy of the teacher's base model on a small labeled subset, during pretraining."""
import copy
from typing import Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmpretrain.registry import DATASETS, HOOKS
from mmpretrain.utils import get_ori_model

from ...evaluation import backbone_features, iter_batches, knn_accuracy
from ...utils.rng import preserve_rng_state


@HOOKS.register_module()
class OnlineKNNHook(Hook):
    """Logs weighted-kNN accuracy of a frozen feature extractor every ``interval`` epochs/iters.

    Off unless listed in ``custom_hooks``. The images of both subsets go through their (fixed)
    pipeline and the model's data preprocessor once and are cached; each evaluation is then one
    forward pass of the subsets in eval mode. It runs on the main process only, restores the
    Python/NumPy/torch random states and the modules' train/eval modes, and computes no
    gradients, so the training run is the same with or without it.

    Results go to ``runner.visualizer`` (``knn/top1``, ``knn/top5`` at the number of finished
    iterations; shown by TensorBoard when its backend is configured), to the log, and to
    ``runner.message_hub`` (``knn/top1``, ``knn/top5``).

    Args:
        train_dataset (dict): Labeled memory bank, e.g. ``dict(type='LocalFashionMNIST',
            split='train', num_per_class=200)``. Without a ``pipeline`` only ``PackInputs`` is
            applied.
        test_dataset (dict): Labeled queries, same form.
        interval (int): Evaluate every ``interval`` epochs (``by_epoch=True``) or iterations.
            The last epoch/iteration is always evaluated. Defaults to 1.
        by_epoch (bool): Defaults to True.
        eval_at_start (bool): Also evaluate before the first iteration. Defaults to True.
        module (str): The feature extractor, a submodule path of the model. Defaults to
            ``'teacher.backbone'`` (the EMA base model of :class:`HSSLAlgorithm`).
        feature (str): ``'cls'``, ``'patch'`` or ``'concat'`` (see
            :func:`mmhssl.evaluation.backbone_features`). Defaults to ``'cls'``.
        num_blocks (int): Blocks for ``feature='concat'``. Defaults to 4.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.
        batch_size (int): Defaults to 256.
        prefix (str): Name prefix of the logged values. Defaults to ``'knn'``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 train_dataset: dict,
                 test_dataset: dict,
                 interval: int = 1,
                 by_epoch: bool = True,
                 eval_at_start: bool = True,
                 module: str = 'teacher.backbone',
                 feature: str = 'cls',
                 num_blocks: int = 4,
                 k: int = 20,
                 temperature: float = 0.07,
                 batch_size: int = 256,
                 prefix: str = 'knn') -> None:
        if interval < 1:
            raise ValueError(f'OnlineKNNHook: interval must be >= 1, got {interval}.')
        self.dataset_cfgs = dict(train=train_dataset, test=test_dataset)
        self.interval = interval
        self.by_epoch = by_epoch
        self.eval_at_start = eval_at_start
        self.module = module
        self.feature = feature
        self.num_blocks = num_blocks
        self.k = k
        self.temperature = temperature
        self.batch_size = batch_size
        self.prefix = prefix
        self._cache: Optional[dict] = None
        self.history = []  # (iterations done, top1) of every evaluation on this process

    def _extractor(self, runner) -> torch.nn.Module:
        model = get_ori_model(runner.model)
        try:
            return model.get_submodule(self.module)
        except AttributeError:
            raise AttributeError(
                f'OnlineKNNHook: the model ({type(model).__name__}) has no submodule '
                f'{self.module!r}; set module= to its feature extractor (e.g. "backbone").'
            ) from None

    def _build_cache(self, runner) -> dict:
        preprocessor = get_ori_model(runner.model).data_preprocessor
        cache = {}
        for split, cfg in self.dataset_cfgs.items():
            cfg = copy.deepcopy(cfg)
            cfg.setdefault('pipeline', [dict(type='PackInputs')])
            dataset = DATASETS.build(cfg)
            inputs, labels = zip(*iter_batches(dataset, preprocessor, self.batch_size))
            cache[split] = (torch.cat(inputs).cpu(), torch.cat(labels))
        return cache

    def before_train(self, runner) -> None:
        self._extractor(runner)  # fail early on a wrong module path
        if self.eval_at_start:
            self.evaluate(runner, runner.iter, epoch=runner.epoch if self.by_epoch else None)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.by_epoch and (self.every_n_train_iters(runner, self.interval)
                                  or self.is_last_train_iter(runner)):
            self.evaluate(runner, runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and (self.every_n_epochs(runner, self.interval)
                              or self.is_last_train_epoch(runner)):
            self.evaluate(runner, runner.iter, epoch=runner.epoch + 1)

    @torch.no_grad()
    def evaluate(self, runner, step: int, epoch: Optional[int] = None) -> Optional[dict]:
        """Compute and log the kNN accuracy.

        Args:
            runner (Runner): The runner.
            step (int): Number of finished iterations (the logged step).
            epoch (int, optional): Number of finished epochs, logged as ``epoch`` when given.

        Returns:
            dict | None: The :func:`knn_accuracy` result on the main process, else None.
        """
        if not is_main_process():
            return None
        extractor = self._extractor(runner)
        modes = {m: m.training for m in extractor.modules()}
        with preserve_rng_state():
            if self._cache is None:
                self._cache = self._build_cache(runner)
            device = next(extractor.parameters()).device
            extractor.eval()
            try:
                feats = {}
                for split, (inputs, _) in self._cache.items():
                    feats[split] = torch.cat([
                        backbone_features(extractor, x.to(device), self.feature,
                                          self.num_blocks).float().cpu()
                        for x in inputs.split(self.batch_size)
                    ])
            finally:
                for m, mode in modes.items():
                    m.training = mode
        result = knn_accuracy(
            feats['train'],
            self._cache['train'][1],
            feats['test'],
            self._cache['test'][1],
            k=self.k,
            temperature=self.temperature)
        scalars = {
            f'{self.prefix}/{key}': result[key]
            for key in ('top1', 'top5') if result[key] is not None
        }
        for key, value in scalars.items():
            runner.message_hub.update_scalar(key, value)
        runner.visualizer.add_scalars(
            dict(scalars, **({} if epoch is None else dict(epoch=epoch))), step=step)
        runner.logger.info(
            f'Online kNN ({self.module}, {self.feature}, k={result["k"]}) after {step} iters: ' +
            ', '.join(f'{key} {value:.2f}' for key, value in scalars.items()))
        self.history.append((step, result['top1']))
        return result
