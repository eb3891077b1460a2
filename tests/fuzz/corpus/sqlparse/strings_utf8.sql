SELECT 'café', $$a;b$$, E'\';' ; -- tail
SELECT 2 -- no semicolon