/* A module library without the chi_module_ops symbol (loader tests). */
int chi_not_a_module(void);

int chi_not_a_module(void)
{
	return 1;
}
