import os
import os.path as osp
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

# Shipped inside the package as mmhssl/.mim, so an installed mmhssl finds its configs and model zoo.
MIM_FILES = ('configs', 'checkpoints', 'model-index.yml')


class BuildPyWithZoo(build_py):

    def run(self):
        super().run()
        root = osp.dirname(osp.abspath(__file__))
        mim = osp.join(self.build_lib, 'mmhssl', '.mim')
        os.makedirs(mim, exist_ok=True)
        for name in MIM_FILES:
            src, dst = osp.join(root, name), osp.join(mim, name)
            if not osp.exists(src):  # e.g. no packaged zoo weights yet
                continue
            if osp.isdir(src):
                shutil.copytree(src, dst, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns('__pycache__'))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={'build_py': BuildPyWithZoo})
