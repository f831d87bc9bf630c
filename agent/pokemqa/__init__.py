"""PokeMQA (Gu et al. 2024): decomposition with a trained scope detector deciding which edits apply."""
