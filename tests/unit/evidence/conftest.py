"""Scenes of the forensics corpus shared by the hash and alignment tests (rendered once)."""

import pytest

from load_tests import photo_corpus as pc

SEED = 7
SCENES = (0, 1, 2, 3, 4, 5)


@pytest.fixture(scope="session")
def worlds():
    return {scene: pc.render_world(scene, SEED) for scene in SCENES}


@pytest.fixture(scope="session")
def originals(worlds):
    return {scene: pc.original(world, scene, SEED) for scene, world in worlds.items()}
