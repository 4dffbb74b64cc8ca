"""Results of experiment groups: gathered from run folders (``collect``), the papers' numbers
(``reported``), paired tests (``stats``), LaTeX/CSV tables (``tables``), figures (``figures``)."""
