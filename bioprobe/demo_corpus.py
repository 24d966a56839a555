"""Embedded, deterministic biomedical demo corpus: NER (IOB2 Disease/Chemical/Gene/Protein) and clinical NLI.

Generated from templates and lexicons in this file with ``random.Random(seed)``; nothing is downloaded or cached.
"""

from __future__ import annotations

import functools
import random
import re
from typing import Callable

import datasets

__all__ = ["demo_ner", "demo_nli"]

_SPLITS = (("train", 2400), ("validation", 300), ("test", 300))

# =====================================================================================
# NER lexicons
# =====================================================================================
# Areas: met (metabolic/endocrine), cv (cardiovascular), onc (oncology), neu (neurology),
# psy (psychiatry), inf (infection), imm (immunology), resp (respiratory), ren (renal), hem (haematology).
_AREAS = ("met", "cv", "onc", "neu", "psy", "inf", "imm", "resp", "ren", "hem")

_CHEM, _DIS, _GENE = "Chemical", "Disease", "Gene/Protein"
_TYPE_CODE = {"C": _CHEM, "D": _DIS, "G": _GENE}

# Chemical lines: "name | kinds | flags | targets(;) | +extra areas" under an "@areas" header.
# kinds: d drug, c drug class, p protein drug (a Chemical only when administered), e endogenous
# compound/metabolite, t toxin or model-inducing agent, n nutrient. flags: amb (the surface form or
# one of its words also occurs with another type), core (never held out of train).
_CHEM_LEX = """
@met
metformin|d|core|AMPK
sitagliptin|d||DPP-4
empagliflozin|d||SGLT2|cv,ren
dapagliflozin|d||SGLT2|cv,ren
liraglutide|d||GLP-1 receptor
semaglutide|d||GLP-1 receptor
pioglitazone|d||PPARgamma
glibenclamide|d
atorvastatin|d||HMG-CoA reductase|cv
simvastatin|d||HMG-CoA reductase|cv
rosuvastatin|d||HMG-CoA reductase|cv
ezetimibe|d||NPC1L1|cv
fenofibrate|d||PPARalpha
orlistat|d
evolocumab|d||PCSK9|cv
levothyroxine|d||thyroid hormone receptor beta
insulin|p|amb|insulin receptor
glucagon|p|amb|glucagon receptor
leptin|p|amb|leptin receptor
growth hormone|p|amb|growth hormone receptor
SGLT2 inhibitors|c|amb|SGLT2|cv,ren
DPP-4 inhibitors|c|amb|DPP-4
PCSK9 inhibitors|c|amb|PCSK9|cv
statins|c||HMG-CoA reductase|cv
glucose|e|core
cholesterol|e|core||cv
triglycerides|e|||cv
free fatty acids|e
lactate|e
bilirubin|e
ammonia|e
estradiol|e|||onc
testosterone|e|||onc
cortisol|e|amb|glucocorticoid receptor|imm
thyroid hormone|e|amb|thyroid hormone receptor beta
phenylalanine|e|amb
hydrogen peroxide|e|||neu
glutathione|e|amb||neu
streptozotocin|t
alloxan|t
carbon tetrachloride|t
bisphenol A|t
fructose|n
omega-3 fatty acids|n|||cv
vitamin E|n|||cv
@cv
aspirin|d|core|COX-1
acetylsalicylic acid|d|core|COX-1
clopidogrel|d||P2Y12
ticagrelor|d||P2Y12
warfarin|d||VKORC1|hem
heparin|d|||hem
enoxaparin|d|||hem
apixaban|d||factor Xa|hem
rivaroxaban|d||factor Xa|hem
dabigatran|d||thrombin|hem
amiodarone|d
digoxin|d
metoprolol|d||beta1-adrenergic receptor
bisoprolol|d||beta1-adrenergic receptor
carvedilol|d
propranolol|d
lisinopril|d||ACE|ren
ramipril|d||ACE|ren
enalapril|d||ACE|ren
losartan|d||angiotensin II type 1 receptor|ren
valsartan|d||angiotensin II type 1 receptor
amlodipine|d
nifedipine|d
furosemide|d|||ren
spironolactone|d||mineralocorticoid receptor|ren
hydrochlorothiazide|d
nitroglycerin|d
sacubitril|d||neprilysin
alteplase|d|||neu
ACE inhibitors|c|amb,core|ACE|ren
angiotensin II|et|amb|angiotensin II type 1 receptor
nitric oxide|ed|amb||resp
aldosterone|e|amb|mineralocorticoid receptor|ren
homocysteine|e
noradrenaline|e|||psy
isoproterenol|t
monocrotaline|t
sodium|en|||ren
potassium|en|||ren
@onc
cisplatin|dt
carboplatin|d
oxaliplatin|d
doxorubicin|dt|||cv
paclitaxel|d
docetaxel|d
5-fluorouracil|d
gemcitabine|d
cyclophosphamide|d|||imm
methotrexate|d||dihydrofolate reductase|imm
imatinib|d||BCR-ABL1
gefitinib|d||EGFR
erlotinib|d||EGFR
osimertinib|d||EGFR
trastuzumab|d||HER2
bevacizumab|d||VEGF-A
rituximab|d||CD20|imm
pembrolizumab|d||PD-1
nivolumab|d||PD-1
tamoxifen|d||estrogen receptor alpha
letrozole|d||aromatase
olaparib|d||PARP1
sorafenib|d||VEGFR2
vemurafenib|d||BRAF
lenalidomide|d|||hem
bortezomib|d|||hem
vincristine|d
temozolomide|d|||neu
everolimus|d||mTOR
palbociclib|d||CDK4
EGFR inhibitors|c|amb|EGFR
PARP inhibitors|c|amb|PARP1
BRAF inhibitors|c|amb|BRAF
aromatase inhibitors|c|amb|aromatase
mTOR inhibitors|c|amb|mTOR|ren
estrogen|ed|amb|estrogen receptor alpha|met
retinoic acid|e|amb|retinoic acid receptor alpha
azoxymethane|t
arsenic|t
benzene|t|||hem
aflatoxin B1|t
vinyl chloride|t
@neu
levodopa|d
carbidopa|d
donepezil|d||acetylcholinesterase
rivastigmine|d||acetylcholinesterase
memantine|d||NMDA receptor
levetiracetam|d||SV2A
carbamazepine|d
lamotrigine|d
phenytoin|d
valproic acid|d|||psy
gabapentin|d
pregabalin|d
sumatriptan|d
morphine|d||mu-opioid receptor
fentanyl|d||mu-opioid receptor
natalizumab|d||alpha4 integrin|imm
ocrelizumab|d||CD20
dopamine|ed|amb|dopamine D2 receptor|psy
glutamate|e|amb|metabotropic glutamate receptor 5
acetylcholine|e|amb|nicotinic acetylcholine receptor
melatonin|ed|amb|melatonin receptor 1A|psy
adenosine|ed|amb|adenosine A2A receptor|cv
caffeine|en|amb|adenosine A2A receptor
gamma-aminobutyric acid|e
kainic acid|t
pentylenetetrazole|t
MPTP|t
rotenone|t
6-hydroxydopamine|t
cuprizone|t
scopolamine|t
paraquat|t
lead|t|amb
mercury|t
@psy
haloperidol|dt||dopamine D2 receptor
clozapine|d
olanzapine|d
risperidone|d||dopamine D2 receptor
aripiprazole|d||dopamine D2 receptor
lithium|d
fluoxetine|d||serotonin transporter
sertraline|d||serotonin transporter
citalopram|d||serotonin transporter
escitalopram|d||serotonin transporter
amitriptyline|d|||neu
diazepam|d||GABA-A receptor|neu
lorazepam|d||GABA-A receptor|neu
bupropion|d
serotonin|e|amb|serotonin 2A receptor
nicotine|e|amb|nicotinic acetylcholine receptor
cocaine|d||dopamine transporter
ethanol|et|||met
oxytocin|p|amb|oxytocin receptor
kynurenine|e|||neu
selective serotonin reuptake inhibitors|c|amb|serotonin transporter
monoamine oxidase inhibitors|c|amb|monoamine oxidase A
@inf
amoxicillin|d
ciprofloxacin|d||DNA gyrase
vancomycin|d
azithromycin|d
doxycycline|d
rifampicin|d
isoniazid|d
fluconazole|d
oseltamivir|d||neuraminidase
remdesivir|d
tenofovir|d||reverse transcriptase
zidovudine|d||reverse transcriptase
dolutegravir|d||integrase
sofosbuvir|d||NS5B polymerase
chloroquine|d
artemisinin|d
meropenem|d
ceftriaxone|d
hydroxychloroquine|d|||imm
interferon beta|p|amb||neu
@imm
prednisolone|d||glucocorticoid receptor|resp
dexamethasone|d||glucocorticoid receptor|resp,onc
methylprednisolone|d||glucocorticoid receptor|neu
hydrocortisone|d
adalimumab|d||TNF-alpha
infliximab|d||TNF-alpha
etanercept|d||TNF-alpha
tocilizumab|d||interleukin-6 receptor
ustekinumab|d||interleukin-12
secukinumab|d||interleukin-17A
ciclosporin|d||calcineurin|ren
tacrolimus|d||calcineurin|ren
azathioprine|d
mycophenolate mofetil|d|||ren
tofacitinib|d||JAK3
baricitinib|d||JAK1
JAK inhibitors|c|amb|JAK1
colchicine|d
allopurinol|d||xanthine oxidase|ren
ibuprofen|d||COX-2|neu
naproxen|d
celecoxib|d||COX-2
diclofenac|d
paracetamol|dt|||neu,met
COX-2 inhibitors|c|amb|COX-2
calcineurin inhibitors|c|amb|calcineurin|ren
corticosteroids|c|||resp
histamine|e|amb|histamine H1 receptor|resp
cetirizine|d||histamine H1 receptor|resp
prostaglandin E2|e|amb|prostaglandin E2 receptor EP4
uric acid|e|||ren
lipopolysaccharide|t|||inf
dextran sulfate sodium|t
@resp
salbutamol|d||beta2-adrenergic receptor
budesonide|d||glucocorticoid receptor
fluticasone|d
montelukast|d||cysteinyl leukotriene receptor 1
tiotropium|d||muscarinic M3 receptor
theophylline|d
ivacaftor|d||CFTR
omalizumab|d||IgE
mepolizumab|d||interleukin-5
pirfenidone|d
nintedanib|d
bleomycin|t
silica|t
@ren
sevelamer|d
calcitriol|d||vitamin D receptor|met
vitamin D|dn|amb|vitamin D receptor|met
cinacalcet|d||calcium-sensing receptor
tolvaptan|d||vasopressin V2 receptor
creatinine|e|core
phosphate|e
calcium|en|amb
cadmium|t
puromycin aminonucleoside|t
@hem
erythropoietin|p|amb|erythropoietin receptor|ren
iron sucrose|d|||ren
deferoxamine|d
hydroxyurea|d
folic acid|dn
eltrombopag|d||thrombopoietin receptor
emicizumab|d
vitamin B12|dn|amb
iron|dn|amb
heme|e|amb
"""

# Disease lines: "name | kinds | flags | +extra areas". kinds: c common, k cancer, g genetic, a adverse drug event.
_DIS_LEX = """
@met
type 2 diabetes|c|core
type 1 diabetes|c
diabetes|c|core
obesity|c
metabolic syndrome|c||cv
non-alcoholic fatty liver disease|c
non-alcoholic steatohepatitis|c
liver cirrhosis|c
hepatic steatosis|c
alcoholic liver disease|c
liver fibrosis|c
acute liver failure|c
insulin resistance|c|amb
hyperglycaemia|ca
osteoporosis|c
hypothyroidism|c
Graves ' disease|c||imm
Cushing 's syndrome|c
Addison 's disease|c||imm
vitamin D deficiency|c|amb|ren
growth hormone deficiency|c|amb
familial hypercholesterolaemia|g||cv
phenylketonuria|g|amb
maturity-onset diabetes of the young|g
hepatotoxicity|a||inf,imm,onc,neu
drug-induced liver injury|a||inf
lactic acidosis|a
hypoglycaemia|a
pancreatitis|a||imm
Gaucher disease|g||neu
Wilson disease|g||neu
achondroplasia|g
osteogenesis imperfecta|g
congenital adrenal hyperplasia|g
diabetic retinopathy|c||neu
@cv
hypertension|c|core|ren
pulmonary hypertension|c||resp
heart failure|c|core
atrial fibrillation|c
myocardial infarction|c
coronary artery disease|c
stroke|c|amb|neu
ischaemic stroke|c||neu
deep vein thrombosis|c||hem
pulmonary embolism|c||hem,resp
atherosclerosis|c||met
cardiac hypertrophy|c
cardiomyopathy|c
dilated cardiomyopathy|c
hypertrophic cardiomyopathy|g
long QT syndrome|g
aortic stenosis|c
peripheral artery disease|c
Marfan syndrome|g
Noonan syndrome|g
QT prolongation|a||psy,inf
hyperkalaemia|a||ren
hypotension|a
bradycardia|a
angioedema|a
rhabdomyolysis|a||met
intracranial haemorrhage|a||hem
gastrointestinal bleeding|a||imm,hem
@onc
breast cancer|k|core
ovarian cancer|k
prostate cancer|k
colorectal cancer|k
lung cancer|k
non-small cell lung cancer|k
small cell lung cancer|k
pancreatic cancer|k
gastric cancer|k
oesophageal adenocarcinoma|k
hepatocellular carcinoma|k
renal cell carcinoma|k||ren
bladder cancer|k
thyroid cancer|k|amb
skin cancer|k
cervical cancer|k
endometrial cancer|k
head and neck squamous cell carcinoma|k
melanoma|k
glioblastoma|k||neu
neuroblastoma|k
retinoblastoma|kg|amb
Wilms tumour|kg|amb|ren
acute myeloid leukaemia|k||hem
chronic myeloid leukaemia|k||hem
acute lymphoblastic leukaemia|k||hem
chronic lymphocytic leukaemia|k||hem
multiple myeloma|k||hem
Hodgkin lymphoma|k||hem
diffuse large B-cell lymphoma|k||hem
hepatic angiosarcoma|k
gastrointestinal stromal tumour|k
Lynch syndrome|g
familial adenomatous polyposis|g|amb
Li-Fraumeni syndrome|g
Peutz-Jeghers syndrome|g
multiple endocrine neoplasia type 2|g||met
cardiotoxicity|a
neutropenia|a||imm
interstitial lung disease|a||imm
osteonecrosis of the jaw|a||met
diarrhoea|a||met,inf
@neu
Alzheimer 's disease|c|core
Parkinson 's disease|c|core
parkinsonism|c
Huntington 's disease|g
amyotrophic lateral sclerosis|c
multiple sclerosis|c||imm
epilepsy|c
status epilepticus|c
seizures|ca
migraine|c
dementia|c
cognitive impairment|c
memory impairment|c
traumatic brain injury|c
neuropathic pain|c
peripheral neuropathy|ca||onc,inf
demyelination|c
Duchenne muscular dystrophy|g
spinal muscular atrophy|g
fragile X syndrome|g||psy
Rett syndrome|g
neurofibromatosis type 1|g||onc
tuberous sclerosis complex|g
Tay-Sachs disease|g
Pompe disease|g||met
prion disease|c|amb
age-related macular degeneration|c
glaucoma|c
Stevens-Johnson syndrome|a||inf,imm
respiratory depression|a
delirium|a||psy
@psy
catalepsy|c
schizophrenia|c
bipolar disorder|c
major depressive disorder|c
depression|c|amb
generalised anxiety disorder|c
autism spectrum disorder|c
attention deficit hyperactivity disorder|c
alcohol use disorder|c
opioid use disorder|c
post-traumatic stress disorder|c
obsessive-compulsive disorder|c
anorexia nervosa|c
insomnia|c||neu
serotonin syndrome|a|amb
neuroleptic malignant syndrome|a
tardive dyskinesia|a
agranulocytosis|a||imm
hyponatraemia|a||neu,cv
@inf
tuberculosis|c||resp
pneumonia|c||resp
sepsis|c||imm
malaria|c
HIV infection|c
hepatitis C|c||met
hepatitis B|c||met
influenza|c||resp
COVID-19|c||resp
urinary tract infection|c||ren
bacterial meningitis|c||neu
Clostridioides difficile infection|c
anaphylaxis|a||onc,imm
ototoxicity|a||onc
@imm
rheumatoid arthritis|c|core
osteoarthritis|c
systemic lupus erythematosus|c
psoriasis|c|amb
psoriatic arthritis|c
ankylosing spondylitis|c
Crohn 's disease|c|amb
ulcerative colitis|c
colitis|c
coeliac disease|c
atopic dermatitis|c
hereditary angioedema|g
gout|c||ren
acute lung injury|c||resp
@resp
asthma|c|amb|imm
chronic obstructive pulmonary disease|c
cystic fibrosis|g|amb
idiopathic pulmonary fibrosis|c
pulmonary fibrosis|c
silicosis|c
alpha-1 antitrypsin deficiency|g|amb|met
@ren
chronic kidney disease|c|core
acute kidney injury|ca
nephrotoxicity|a||onc,inf,imm
diabetic nephropathy|c||met
nephrotic syndrome|c
IgA nephropathy|c
polycystic kidney disease|g
focal segmental glomerulosclerosis|c
proteinuria|c|core
albuminuria|c|core
nephrolithiasis|c
Fabry disease|g||cv
@hem
sickle cell disease|g|amb
beta-thalassaemia|g
haemophilia A|g|amb
von Willebrand disease|g|amb
iron deficiency anaemia|c|amb
anaemia|c||ren
hereditary haemochromatosis|g||met
glucose-6-phosphate dehydrogenase deficiency|g|amb
immune thrombocytopenia|c||imm
myelofibrosis|c||onc
polycythaemia vera|c||onc
thrombocytopenia|a||onc,cv
"""

# Gene/Protein lines: "name | kinds | flags | +extra areas". kinds: g gene/protein, y drug-metabolising CYP.
_GENE_LEX = """
@onc
BRCA1|g|core
BRCA2|g
TP53|g
p53|g
KRAS|g
NRAS|g
EGFR|g|amb
HER2|g
ALK|g
BRAF|g|amb
PIK3CA|g
PTEN|g
MYC|g
BCL2|g||hem
CDKN2A|g
APC|g
MLH1|g
MSH2|g
VEGF-A|g||cv
PD-1|g
PD-L1|g
CTLA-4|g||imm
MET|g|amb
KIT|g|amb
RB1|g
IDH1|g||neu
FLT3|g||hem
NPM1|g||hem
ATM|g
PALB2|g
cyclin D1|g
survivin|g
Ki-67|g
BCR-ABL1|g||hem
PARP1|g|amb
mTOR|g|amb|met
CDK4|g
aromatase|g|amb
estrogen receptor alpha|g|amb
VEGFR2|g
CD20|g||imm,hem
HIF-1alpha|g||ren
telomerase reverse transcriptase|g
STK11|g
RET|g
SMAD4|g
NOTCH1|g
CD44|g
E-cadherin|g
vimentin|g
MDM2|g
AKT1|g
caspase-3|g||neu
prostate-specific antigen|g|core
CA-125|g
alpha-fetoprotein|g
carcinoembryonic antigen|g
retinoblastoma protein|g|amb
Wilms tumour 1|g|amb|ren
adenomatous polyposis coli|g|amb
retinoic acid receptor alpha|g|amb|hem
SHH|g
sonic hedgehog|g
androgen receptor|g
matrix metalloproteinase-9|g
EZH2|g
SOX2|g
beta-catenin|g
WT1|g||ren
dihydrofolate reductase|g|||imm
@imm
TNF-alpha|g
tumour necrosis factor alpha|g|amb,core
interleukin-6|g|core
IL-6|g
IL-1beta|g
interleukin-17A|g
interferon gamma|g||inf
NF-kappaB|g
C-reactive protein|g|core|cv
TLR4|g||inf
NLRP3|g
COX-2|g|amb
cyclooxygenase-2|g
PTGS2|g
STAT3|g
JAK1|g|amb
JAK3|g
calcineurin|g|amb|ren
interleukin-6 receptor|g
interleukin-12|g
IL-10|g
CD4|g|core|inf
FOXP3|g
HLA-B27|g
HLA-DRB1|g
histamine H1 receptor|g|amb|resp
glucocorticoid receptor|g||resp
calprotectin|g
xanthine oxidase|g||ren
prostaglandin E2 receptor EP4|g|amb
inducible nitric oxide synthase|g|amb
interleukin-23|g
IgE|g||resp
SERPING1|g
C1 inhibitor|g
@met
insulin|g|amb,core
insulin receptor|g|amb
insulin-like growth factor 1|g|amb
glucagon|g|amb
glucagon receptor|g|amb
GLP-1 receptor|g
PPARgamma|g
PPARalpha|g
AMPK|g
leptin|g|amb
leptin receptor|g|amb
adiponectin|g
glucokinase|g
GLUT4|g
SREBP-1c|g
PCSK9|g|amb|cv
LDL receptor|g||cv
HMG-CoA reductase|g|amb|cv
FTO|g
TCF7L2|g
MC4R|g
APOE|g||neu
DPP-4|g|amb
SGLT2|g|amb|ren
growth hormone|g|amb
growth hormone receptor|g|amb
thyroid hormone receptor beta|g|amb
NPC1L1|g
FGF21|g
sirtuin 1|g
catalase|g
CAT|g|amb
superoxide dismutase 2|g
heme oxygenase-1|g|amb|hem
glutathione S-transferase pi|g|amb
phenylalanine hydroxylase|g|amb
HNF1A|g
uncoupling protein 1|g
fatty acid synthase|g
thyroid-stimulating hormone|g
PAH|g
GCK|g
ATP7B|g
CYP21A2|g
FGFR3|g
COL1A1|g
LDLR|g||cv
@cv
ACE|g|amb|ren
angiotensin-converting enzyme|g
angiotensin II type 1 receptor|g|amb
endothelial nitric oxide synthase|g|amb
troponin T|g
troponin I|g
brain natriuretic peptide|g
NT-proBNP|g|core
MYH7|g
MYBPC3|g
titin|g
KCNH2|g
KCNQ1|g
SCN5A|g
APOB|g||met
factor V|g||hem
von Willebrand factor|g|amb|hem
thrombin|g|amb|hem
prothrombin|g||hem
factor Xa|g||hem
P2Y12|g
VKORC1|g
mineralocorticoid receptor|g||ren
neprilysin|g
COX-1|g
adenosine A2A receptor|g|amb|neu
beta1-adrenergic receptor|g
endothelin-1|g
soluble guanylate cyclase|g
aldosterone synthase|g|amb
FBN1|g
fibrillin-1|g
PTPN11|g
creatine kinase|g||met
angiotensinogen|g|amb
@neu
amyloid precursor protein|g
APP|g
tau|g
MAPT|g
alpha-synuclein|g
SNCA|g
LRRK2|g
huntingtin|g
HTT|g
SOD1|g
TDP-43|g
C9orf72|g
BDNF|g||psy
dopamine D2 receptor|g|amb|psy
dopamine transporter|g|amb|psy
NMDA receptor|g
GABA-A receptor|g||psy
acetylcholinesterase|g
nicotinic acetylcholine receptor|g|amb|psy
metabotropic glutamate receptor 5|g|amb
melatonin receptor 1A|g|amb|psy
PSEN1|g
prion protein|g|amb
GFAP|g
neurofilament light chain|g
tyrosine hydroxylase|g
mu-opioid receptor|g
SV2A|g
alpha4 integrin|g||imm
CLOCK|g|amb|psy
REST|g|amb
MECP2|g
SMN1|g
FMR1|g||psy
neurofibromin|g
NF1|g
DMD|g
dystrophin|g
GBA|g
glucocerebrosidase|g
parkin|g
TSC2|g
HEXA|g
GAA|g
interferon beta|g|amb|inf,imm
@psy
serotonin transporter|g|amb
SLC6A4|g
DRD2|g
COMT|g
catechol-O-methyltransferase|g
monoamine oxidase A|g|amb
FKBP5|g
DISC1|g
serotonin 2A receptor|g|amb
oxytocin receptor|g|amb
oxytocin|g|amb
CACNA1C|g
corticotropin-releasing hormone|g
@inf
ACE2|g|amb|resp
CCR5|g
TLR2|g
neuraminidase|g
reverse transcriptase|g
integrase|g
NS5B polymerase|g
DNA gyrase|g
procalcitonin|g
IFITM3|g
spike protein|g
haemagglutinin|g
interferon alpha|g||imm
@resp
CFTR|g
cystic fibrosis transmembrane conductance regulator|g|amb
alpha-1 antitrypsin|g|amb|met
SERPINA1|g
IL-13|g||imm
interleukin-5|g||imm
TSLP|g||imm
MUC5B|g
beta2-adrenergic receptor|g
cysteinyl leukotriene receptor 1|g
muscarinic M3 receptor|g
surfactant protein C|g
periostin|g
TGF-beta1|g||ren
@ren
podocin|g
nephrin|g
PKD1|g
PKD2|g
uromodulin|g
APOL1|g
vitamin D receptor|g|amb|met
calcium-sensing receptor|g|amb
vasopressin V2 receptor|g
klotho|g
FGF23|g
erythropoietin|g|amb|hem
erythropoietin receptor|g|amb|hem
kidney injury molecule-1|g
GLA|g
alpha-galactosidase A|g
@hem
HBB|g
beta-globin|g
JAK2|g|amb
hepcidin|g
factor VIII|g
F8|g
HFE|g|||met
BCL11A|g
G6PD|g
glucose-6-phosphate dehydrogenase|g|amb
thrombopoietin receptor|g
ferritin|g|core
transferrin receptor 1|g
VWF|g
fibrinogen|g
haemoglobin|g|core
@met,cv,onc,neu,psy,inf,imm,resp,ren,hem
CYP3A4|y
CYP2D6|y
CYP2C9|y
CYP2C19|y
CYP1A2|y
"""

# Pairs: genetic disease -> causal genes.
_GENETIC_PAIRS = """
cystic fibrosis|CFTR;cystic fibrosis transmembrane conductance regulator
Duchenne muscular dystrophy|DMD;dystrophin
Huntington 's disease|HTT;huntingtin
sickle cell disease|HBB;beta-globin
beta-thalassaemia|HBB;BCL11A
haemophilia A|F8;factor VIII
Marfan syndrome|FBN1;fibrillin-1
fragile X syndrome|FMR1
neurofibromatosis type 1|NF1;neurofibromin
familial adenomatous polyposis|APC;adenomatous polyposis coli
Lynch syndrome|MLH1;MSH2
hereditary haemochromatosis|HFE
familial hypercholesterolaemia|LDLR;PCSK9;APOB
phenylketonuria|PAH;phenylalanine hydroxylase
spinal muscular atrophy|SMN1
retinoblastoma|RB1;retinoblastoma protein
Wilms tumour|WT1;Wilms tumour 1
von Willebrand disease|VWF;von Willebrand factor
alpha-1 antitrypsin deficiency|SERPINA1;alpha-1 antitrypsin
glucose-6-phosphate dehydrogenase deficiency|G6PD;glucose-6-phosphate dehydrogenase
Rett syndrome|MECP2
tuberous sclerosis complex|TSC2
polycystic kidney disease|PKD1;PKD2
long QT syndrome|KCNH2;KCNQ1;SCN5A
hypertrophic cardiomyopathy|MYH7;MYBPC3
Gaucher disease|GBA;glucocerebrosidase
Tay-Sachs disease|HEXA
Fabry disease|GLA;alpha-galactosidase A
Pompe disease|GAA
Wilson disease|ATP7B
amyotrophic lateral sclerosis|SOD1;C9orf72;TDP-43
Alzheimer 's disease|APP;PSEN1;APOE
Parkinson 's disease|LRRK2;SNCA;parkin
breast cancer|BRCA1;BRCA2;PALB2
Li-Fraumeni syndrome|TP53
Peutz-Jeghers syndrome|STK11
Noonan syndrome|PTPN11
achondroplasia|FGFR3
osteogenesis imperfecta|COL1A1
hereditary angioedema|SERPING1;C1 inhibitor
congenital adrenal hyperplasia|CYP21A2
maturity-onset diabetes of the young|HNF1A;GCK;glucokinase
multiple endocrine neoplasia type 2|RET
"""

# Ligand (Chemical, or Gene/Protein for protein hormones) -> receptor/target.
_LIGAND_PAIRS = """
estrogen|estrogen receptor alpha
estradiol|estrogen receptor alpha
dopamine|dopamine D2 receptor
serotonin|serotonin 2A receptor
vitamin D|vitamin D receptor
calcitriol|vitamin D receptor
cortisol|glucocorticoid receptor
dexamethasone|glucocorticoid receptor
angiotensin II|angiotensin II type 1 receptor
adenosine|adenosine A2A receptor
caffeine|adenosine A2A receptor
histamine|histamine H1 receptor
acetylcholine|nicotinic acetylcholine receptor
nicotine|nicotinic acetylcholine receptor
glutamate|metabotropic glutamate receptor 5
glutamate|NMDA receptor
testosterone|androgen receptor
melatonin|melatonin receptor 1A
retinoic acid|retinoic acid receptor alpha
aldosterone|mineralocorticoid receptor
thyroid hormone|thyroid hormone receptor beta
prostaglandin E2|prostaglandin E2 receptor EP4
insulin|insulin receptor
glucagon|glucagon receptor
leptin|leptin receptor
growth hormone|growth hormone receptor
erythropoietin|erythropoietin receptor
oxytocin|oxytocin receptor
morphine|mu-opioid receptor
salbutamol|beta2-adrenergic receptor
calcium|calcium-sensing receptor
"""

# Circulating biomarker (Gene/Protein) -> diseases it is used for.
_BIOMARKER_PAIRS = """
troponin T|myocardial infarction
troponin I|myocardial infarction
brain natriuretic peptide|heart failure
NT-proBNP|heart failure
prostate-specific antigen|prostate cancer
CA-125|ovarian cancer
alpha-fetoprotein|hepatocellular carcinoma
carcinoembryonic antigen|colorectal cancer
procalcitonin|sepsis;pneumonia
calprotectin|Crohn 's disease;ulcerative colitis
ferritin|hereditary haemochromatosis;iron deficiency anaemia
C-reactive protein|rheumatoid arthritis;sepsis
thyroid-stimulating hormone|hypothyroidism
neurofilament light chain|multiple sclerosis;amyotrophic lateral sclerosis
tau|Alzheimer 's disease
GFAP|traumatic brain injury
kidney injury molecule-1|acute kidney injury
IgE|asthma;atopic dermatitis
creatine kinase|rhabdomyolysis
hepcidin|iron deficiency anaemia
periostin|asthma
haemoglobin|anaemia;sickle cell disease
"""

# Toxins / model-inducing agents -> disease produced in experimental models (area of the model).
_TOXIN_PAIRS = """
streptozotocin|met|diabetes;hyperglycaemia
alloxan|met|diabetes
carbon tetrachloride|met|liver fibrosis;hepatotoxicity
paracetamol|met|acute liver failure;hepatotoxicity
ethanol|met|alcoholic liver disease;hepatic steatosis
lipopolysaccharide|imm|sepsis;acute lung injury
dextran sulfate sodium|imm|colitis
bleomycin|resp|pulmonary fibrosis
monocrotaline|cv|pulmonary hypertension
angiotensin II|cv|hypertension;cardiac hypertrophy
isoproterenol|cv|cardiac hypertrophy
doxorubicin|cv|dilated cardiomyopathy;cardiotoxicity
cisplatin|ren|acute kidney injury;nephrotoxicity
puromycin aminonucleoside|ren|nephrotic syndrome
kainic acid|neu|seizures;status epilepticus
pentylenetetrazole|neu|seizures
MPTP|neu|parkinsonism
rotenone|neu|parkinsonism
6-hydroxydopamine|neu|parkinsonism
cuprizone|neu|demyelination
scopolamine|neu|memory impairment
azoxymethane|onc|colorectal cancer
haloperidol|psy|catalepsy
"""

# Environmental exposures -> associated diseases.
_ENV_PAIRS = """
arsenic|bladder cancer;skin cancer
cadmium|chronic kidney disease
benzene|acute myeloid leukaemia
aflatoxin B1|hepatocellular carcinoma
vinyl chloride|hepatic angiosarcoma
paraquat|Parkinson 's disease
silica|silicosis
lead|cognitive impairment;hypertension
mercury|peripheral neuropathy
bisphenol A|obesity;type 2 diabetes
"""

# Gene symbol -> the protein it encodes.
_SYMBOL_PAIRS = """
CFTR|cystic fibrosis transmembrane conductance regulator
PAH|phenylalanine hydroxylase
HBB|beta-globin
F8|factor VIII
FBN1|fibrillin-1
NF1|neurofibromin
DMD|dystrophin
HTT|huntingtin
VWF|von Willebrand factor
SERPINA1|alpha-1 antitrypsin
G6PD|glucose-6-phosphate dehydrogenase
GBA|glucocerebrosidase
GCK|glucokinase
GLA|alpha-galactosidase A
CAT|catalase
APP|amyloid precursor protein
MAPT|tau
SNCA|alpha-synuclein
RB1|retinoblastoma protein
WT1|Wilms tumour 1
APC|adenomatous polyposis coli
TP53|p53
SLC6A4|serotonin transporter
DRD2|dopamine D2 receptor
COMT|catechol-O-methyltransferase
PTGS2|cyclooxygenase-2
ACE|angiotensin-converting enzyme
"""

# Disease definitions used in methods sections ("disease :: definition"); <text|T> marks an inline entity.
_DEFINITIONS = """
hypertension :: a systolic blood pressure of at least 140 mmHg or use of antihypertensive medication
type 2 diabetes :: a fasting plasma <glucose|C> of 7.0 mmol/L or higher or an HbA1c of at least 6.5 %
obesity :: a body mass index of 30 kg/m2 or higher
chronic kidney disease :: an estimated glomerular filtration rate below 60 mL/min/1.73 m2 for at least 3 months
anaemia :: a <haemoglobin|G> concentration below 12 g/dL in women and below 13 g/dL in men
hyperkalaemia :: a serum <potassium|C> concentration above 5.5 mmol/L
thrombocytopenia :: a platelet count below 150 x 10^9/L
acute kidney injury :: an increase in serum <creatinine|C> of at least 0.3 mg/dL within 48 hours
hypoglycaemia :: a blood <glucose|C> concentration below 3.9 mmol/L
neutropenia :: an absolute neutrophil count below 1.5 x 10^9/L
QT prolongation :: a corrected QT interval longer than 500 ms
osteoporosis :: a bone mineral density T-score of -2.5 or lower
hyponatraemia :: a serum <sodium|C> concentration below 135 mmol/L
metabolic syndrome :: the presence of at least three of five cardiometabolic risk factors
sepsis :: life-threatening organ dysfunction caused by a dysregulated host response to infection
"""

# Area-specific non-entity phrases; <text|T> marks inline entities.
_AREA_PHRASES: dict[str, dict[str, list[str]]] = {
    "OUT": {
        "met": ["hepatic <glucose|C> output", "fasting plasma <glucose|C>", "HbA1c", "body weight",
                "plasma <triglyceride|C> concentrations", "LDL <cholesterol|C> levels",
                "<insulin|G> sensitivity", "glycaemic control", "liver fat content", "waist circumference"],
        "cv": ["systolic blood pressure", "left ventricular ejection fraction", "all-cause mortality",
               "the risk of major adverse cardiovascular events", "platelet aggregation", "infarct size",
               "pulse wave velocity", "stroke volume", "serum <NT-proBNP|G> levels", "the rate of hospitalisation"],
        "onc": ["tumour growth", "progression-free survival", "overall survival", "tumour volume",
                "the objective response rate", "serum <prostate-specific antigen|G> levels",
                "circulating tumour DNA levels"],
        "neu": ["motor function", "cognitive decline", "the annualised relapse rate", "pain scores",
                "scores on the Unified Parkinson 's Disease Rating Scale", "disability progression",
                "scores on the Alzheimer 's Disease Assessment Scale", "dopaminergic neuron loss"],
        "psy": ["depressive symptoms", "scores on the Hamilton Depression Rating Scale", "anxiety scores",
                "the rate of relapse", "psychotic symptoms", "sleep latency", "craving scores"],
        "inf": ["viral load", "the time to clinical recovery", "28-day mortality", "bacterial load",
                "parasite clearance time", "<CD4|G> cell counts"],
        "imm": ["disease activity", "the Disease Activity Score", "joint swelling", "the number of flares",
                "serum <C-reactive protein|G> levels", "the Psoriasis Area and Severity Index",
                "the Crohn 's Disease Activity Index", "<interleukin-6|G> production"],
        "resp": ["forced expiratory volume in 1 second", "the rate of exacerbations",
                 "sweat <chloride|C> concentration", "scores on the Asthma Control Questionnaire",
                 "the decline in forced vital capacity", "scores on the COPD Assessment Test"],
        "ren": ["<proteinuria|D>", "the estimated glomerular filtration rate", "serum <creatinine|C> levels",
                "<albuminuria|D>", "serum <phosphate|C> levels", "kidney function"],
        "hem": ["<haemoglobin|G> concentrations", "transfusion requirements", "serum <ferritin|G> levels",
                "the frequency of vaso-occlusive crises", "platelet counts", "the annualised bleeding rate"],
    },
    "PROC": {
        "met": ["glucose homeostasis", "lipid metabolism", "<insulin|G> secretion", "energy expenditure",
                "adipocyte differentiation", "hepatic gluconeogenesis", "fatty acid oxidation", "thermogenesis"],
        "cv": ["vascular tone", "cardiac contractility", "platelet activation", "endothelial function",
               "cardiac remodelling", "blood pressure regulation", "angiogenesis"],
        "onc": ["cell cycle progression", "DNA repair", "apoptosis", "angiogenesis", "genomic stability",
                "epithelial-mesenchymal transition", "cell proliferation", "immune evasion"],
        "neu": ["synaptic plasticity", "neuronal survival", "axonal transport", "autophagy", "myelination",
                "mitochondrial quality control", "neurotransmitter release", "protein aggregation"],
        "psy": ["synaptic plasticity", "stress responses", "reward processing", "monoamine signalling",
                "circadian rhythms"],
        "inf": ["viral replication", "viral entry", "bacterial clearance", "innate immunity", "phagocytosis",
                "interferon signalling"],
        "imm": ["inflammatory signalling", "T cell activation", "cytokine production", "innate immunity",
                "leukocyte recruitment", "inflammasome activation", "B cell differentiation"],
        "resp": ["airway inflammation", "mucociliary clearance", "epithelial ion transport",
                 "fibroblast activation", "airway remodelling", "<chloride|C> secretion"],
        "ren": ["podocyte survival", "tubular transport", "<sodium|C> reabsorption",
                "<phosphate|C> homeostasis", "glomerular filtration"],
        "hem": ["erythropoiesis", "<iron|C> homeostasis", "haemostasis", "platelet production",
                "fetal <haemoglobin|G> production", "coagulation"],
    },
    "CELL": {
        "met": ["HepG2 cells", "3T3-L1 adipocytes", "primary hepatocytes", "C2C12 myotubes", "INS-1 cells",
                "MIN6 cells", "HEK293 cells"],
        "cv": ["human umbilical vein endothelial cells", "H9c2 cardiomyocytes", "vascular smooth muscle cells",
               "primary cardiomyocytes", "HEK293 cells"],
        "onc": ["MCF-7 cells", "A549 cells", "HeLa cells", "HCT116 cells", "PC-3 cells", "U87 cells",
                "SK-MEL-28 cells", "HEK293 cells"],
        "neu": ["SH-SY5Y cells", "PC12 cells", "primary cortical neurons", "primary astrocytes", "BV-2 microglia"],
        "psy": ["SH-SY5Y cells", "primary hippocampal neurons", "PC12 cells"],
        "inf": ["THP-1 macrophages", "RAW 264.7 macrophages", "Vero E6 cells", "peripheral blood mononuclear cells"],
        "imm": ["THP-1 macrophages", "RAW 264.7 macrophages", "Jurkat T cells",
                "peripheral blood mononuclear cells", "bone marrow-derived macrophages"],
        "resp": ["BEAS-2B bronchial epithelial cells", "primary lung fibroblasts", "Calu-3 cells", "A549 cells"],
        "ren": ["HK-2 proximal tubular cells", "cultured podocytes", "mesangial cells", "HEK293 cells"],
        "hem": ["K562 cells", "HUDEP-2 cells", "erythroid progenitors", "primary megakaryocytes"],
    },
    "CELLOUT": {
        "met": ["lipid accumulation", "<glucose|C> uptake", "mitochondrial respiration", "cell viability"],
        "cv": ["tube formation", "cell migration", "cell viability", "hypertrophic growth"],
        "onc": ["cell viability", "apoptosis", "cell migration", "invasion", "colony formation"],
        "neu": ["neurite outgrowth", "cell viability", "apoptosis"],
        "psy": ["neurite outgrowth", "cell viability"],
        "inf": ["cytokine release", "phagocytosis", "viral replication"],
        "imm": ["cytokine release", "phagocytosis", "cell proliferation"],
        "resp": ["cell viability", "collagen deposition", "cell migration"],
        "ren": ["cell viability", "apoptosis", "cell migration"],
        "hem": ["erythroid differentiation", "cell proliferation", "apoptosis"],
    },
    "ANIMAL": {
        "met": ["db/db mice", "ob/ob mice", "mice fed a high-fat diet", "Zucker diabetic fatty rats",
                "C57BL/6 mice", "Wistar rats"],
        "cv": ["spontaneously hypertensive rats", "mice subjected to transverse aortic constriction",
               "C57BL/6 mice", "Sprague-Dawley rats"],
        "onc": ["nude mice bearing xenografts", "BALB/c mice", "C57BL/6 mice"],
        "neu": ["C57BL/6 mice", "Sprague-Dawley rats", "aged rats", "zebrafish larvae", "Wistar rats"],
        "psy": ["C57BL/6 mice", "Sprague-Dawley rats", "mice exposed to chronic social defeat stress"],
        "inf": ["C57BL/6 mice", "BALB/c mice", "golden Syrian hamsters"],
        "imm": ["C57BL/6 mice", "BALB/c mice", "DBA/1 mice", "Lewis rats"],
        "resp": ["C57BL/6 mice", "BALB/c mice", "Sprague-Dawley rats"],
        "ren": ["C57BL/6 mice", "Sprague-Dawley rats", "Wistar rats"],
        "hem": ["C57BL/6 mice", "Townes mice", "BALB/c mice"],
    },
    "CT": {
        "met": ["hepatocytes", "adipocytes", "pancreatic beta cells", "skeletal muscle"],
        "cv": ["cardiomyocytes", "endothelial cells", "vascular smooth muscle cells", "platelets"],
        "onc": ["tumour cells", "cancer-associated fibroblasts", "epithelial cells"],
        "neu": ["neurons", "astrocytes", "microglia", "oligodendrocytes"],
        "psy": ["neurons", "the prefrontal cortex", "the hippocampus"],
        "inf": ["macrophages", "airway epithelial cells", "dendritic cells"],
        "imm": ["T cells", "macrophages", "B cells", "neutrophils"],
        "resp": ["airway epithelial cells", "lung fibroblasts", "alveolar macrophages"],
        "ren": ["podocytes", "proximal tubular cells", "mesangial cells"],
        "hem": ["erythroid progenitors", "haematopoietic stem cells", "megakaryocytes"],
    },
    "TISSUE": {
        "met": ["liver tissue", "adipose tissue", "skeletal muscle", "plasma"],
        "cv": ["the left ventricle", "aortic tissue", "plasma"],
        "onc": ["tumour tissue", "plasma"],
        "neu": ["the striatum", "the hippocampus", "cerebrospinal fluid"],
        "psy": ["the prefrontal cortex", "the hippocampus", "plasma"],
        "imm": ["synovial fluid", "plasma", "colonic tissue"],
        "resp": ["bronchoalveolar lavage fluid", "lung tissue", "sputum"],
        "ren": ["the kidney cortex", "urine", "plasma"],
        "hem": ["bone marrow", "plasma"],
    },
    "SURV": {
        "onc": ["progression-free survival", "overall survival", "disease-free survival", "event-free survival"],
        "hem": ["progression-free survival", "overall survival", "event-free survival"],
        "cv": ["event-free survival", "overall survival"],
        "neu": ["overall survival", "time to first relapse"],
        "ren": ["renal survival", "dialysis-free survival"],
        "inf": ["overall survival", "time to viral suppression"],
        "resp": ["overall survival", "time to first exacerbation"],
        "imm": ["time to first flare", "relapse-free survival"],
    },
    "COHORT": {
        "met": ["the UK Biobank", "the Diabetes Prevention Program", "NHANES", "the Framingham Heart Study"],
        "cv": ["the UK Biobank", "the Framingham Heart Study", "the ARIC study", "the Women 's Health Initiative"],
        "onc": ["The Cancer Genome Atlas", "the Nurses ' Health Study", "the UK Biobank"],
        "neu": ["the Alzheimer 's Disease Neuroimaging Initiative", "the Rotterdam Study", "the UK Biobank",
                "the International Multiple Sclerosis Genetics Consortium"],
        "psy": ["the Psychiatric Genomics Consortium", "the UK Biobank", "the Danish National Patient Registry"],
        "inf": ["the Danish National Patient Registry", "the Million Veteran Program"],
        "imm": ["FinnGen", "the UK Biobank", "the Danish National Patient Registry"],
        "resp": ["the UK Biobank", "the COPDGene study", "FinnGen"],
        "ren": ["the CKD Prognosis Consortium", "the UK Biobank", "the Million Veteran Program"],
        "hem": ["the UK Biobank", "FinnGen"],
    },
    "TRIAL": {
        "met": ["UKPDS", "LEADER", "SUSTAIN-6", "EMPA-REG OUTCOME", "ACCORD"],
        "cv": ["SPRINT", "ALLHAT", "DAPA-HF", "PARADIGM-HF", "RE-LY", "ARISTOTLE", "FOURIER", "JUPITER"],
        "onc": ["KEYNOTE-189", "CheckMate 067", "MONALEESA-2", "SOLO-1", "FLAURA"],
        "inf": ["RECOVERY", "ACTT-1", "SOLIDARITY"],
        "imm": ["CANTOS", "ORAL Surveillance", "SELECT-COMPARE"],
        "resp": ["IMPACT", "INPULSIS", "TORCH"],
        "ren": ["CREDENCE", "DAPA-CKD", "EMPA-KIDNEY"],
        "neu": ["ORATORIO", "EMERGE", "CLARITY AD"],
        "psy": ["STAR*D", "CATIE"],
    },
    "SCALE": {
        "neu": ["Unified Parkinson 's Disease Rating Scale", "Alzheimer 's Disease Assessment Scale",
                "Expanded Disability Status Scale", "Mini-Mental State Examination"],
        "psy": ["Hamilton Depression Rating Scale", "Montgomery-Asberg Depression Rating Scale",
                "Positive and Negative Syndrome Scale", "Yale-Brown Obsessive Compulsive Scale"],
        "imm": ["Disease Activity Score 28", "Psoriasis Area and Severity Index", "Crohn 's Disease Activity Index",
                "Systemic Lupus Erythematosus Disease Activity Index"],
        "resp": ["Asthma Control Questionnaire", "St George 's Respiratory Questionnaire", "COPD Assessment Test"],
        "cv": ["Kansas City Cardiomyopathy Questionnaire", "Minnesota Living with Heart Failure Questionnaire"],
        "met": ["Diabetes Distress Scale", "Problem Areas in Diabetes scale"],
        "ren": ["Kidney Disease Quality of Life"],
        "onc": ["EORTC QLQ-C30"],
    },
    "CLINIC": {
        "met": ["diabetes clinic", "obesity clinic", "endocrine clinic"],
        "cv": ["heart failure clinic", "anticoagulation clinic", "hypertension clinic"],
        "onc": ["cancer centre", "oncology clinic", "breast cancer screening programme"],
        "neu": ["memory clinic", "epilepsy clinic", "stroke unit", "movement disorders clinic"],
        "psy": ["psychiatric outpatient clinic", "addiction service"],
        "inf": ["tuberculosis clinic", "HIV clinic", "travel clinic"],
        "imm": ["rheumatology clinic", "inflammatory bowel disease clinic", "psoriasis clinic"],
        "resp": ["asthma clinic", "cystic fibrosis centre", "pulmonary rehabilitation programme"],
        "ren": ["dialysis unit", "renal clinic", "kidney transplant programme"],
        "hem": ["haemophilia treatment centre", "sickle cell clinic", "anaemia clinic"],
    },
    "IMG": {
        "neu": ["Brain MRI", "Spinal MRI", "Amyloid PET"],
        "cv": ["Echocardiographic", "Cardiac MRI", "Coronary CT angiography"],
        "onc": ["CT", "PET-CT"],
        "resp": ["High-resolution CT", "Chest CT"],
        "met": ["Liver MRI", "Abdominal ultrasound"],
    },
}

_ASSAYS = ["quantitative PCR", "RT-PCR", "Western blotting", "ELISA", "immunohistochemistry", "flow cytometry",
           "RNA-seq", "mass spectrometry", "luciferase reporter assays", "chromatin immunoprecipitation",
           "confocal microscopy", "Sanger sequencing", "immunofluorescence", "single-cell RNA-seq", "MTT assays"]
_SURNAMES = ["Halvorsen", "Marchetti", "Okafor", "Lindqvist", "Bergstrom", "Castellano", "Moreau", "Novak",
             "Ferreira", "Kowalski", "Brennan", "Takeda", "Oyelaran", "Sandoval", "Ashworth", "Delacroix",
             "Pellegrini", "Haddad", "Nakamura", "Rasmussen", "Ivanova", "Quintero", "Weissman", "Dufresne",
             "Albrecht", "Whitcombe", "Kaplan", "Mendes", "Sorensen", "Varga", "Lindgren", "Petrakis",
             "Olsen", "Brandt", "Costa", "Hartmann", "Keller", "Morozov", "Salazar", "Tanaka"]
_MODIFIERS = {"k": ["early-onset", "advanced", "metastatic", "recurrent", "newly diagnosed", "locally advanced"],
              "c": ["severe", "moderate-to-severe", "newly diagnosed", "long-standing", "mild"],
              "g": ["paediatric", "adult-onset"]}
_AA = "ACDEFGHIKLMNPQRSTVWY"

# NER sentence templates. Syntax: $SLOT, [optional], {alt|ernatives}, <inline entity|C/D/G>.
_NER_TEMPLATES = [
    # --- clinical treatment
    "Treatment with $CA {reduced|improved|lowered} $OUT in patients with $MD [ $P ] .",
    "{In|Among} patients with $MD , $CA {significantly|modestly} improved $OUT [ compared with placebo ] [ $P ] .",
    "Patients with $MD were randomly assigned to receive $CA ( $DD ) or placebo for $TIME .",
    "Patients were randomly assigned to receive $C or $C2 [ , and the primary end point was $OUT ] .",
    "Patients with $MD who received $C had {longer|shorter} $SURV than those who received $C2 [ $CI ] .",
    "$CA {did not|failed to} improve $OUT in patients with $MD [ in the $TRIAL trial ] .",
    "In the $TRIAL trial , $C reduced the incidence of $D by $PCT compared with placebo .",
    "Add-on therapy with $C was well tolerated in patients with $D who were {already receiving|intolerant of} $C2 .",
    "These results suggest that $C may {be beneficial|offer a new therapeutic option} for patients with $MD"
    " [ who do not respond to $C2 ] .",
    "$CA was {initiated|titrated} at $DD in {patients|adults|older adults} with {newly diagnosed|established} $D .",
    "Patients received {recombinant human|subcutaneous|intravenous} $PD at $PDOSE [ for $TIME ] .",
    "A $AGESEX with $D presented with {worsening|acute} symptoms after {starting|discontinuing} $C .",
    # --- adverse events
    "The most common adverse events {of|associated with} $C were $A and $A2 .",
    "$A occurred in $PCT of patients receiving $C [ and led to treatment discontinuation in $PCT ] .",
    "We report a case of $A in a $AGESEX receiving $C for $D .",
    "Concomitant use of $C and $C2 increased the risk of $A [ $CI ] .",
    "The incidence of $A was higher with $C than with $C2 ( $PCT versus $PCT ) .",
    "$A is a rare but serious complication of {treatment|therapy} with $C .",
    "{Patients|Users} of $C should be monitored for $A [ , particularly during the first $TIME of treatment ] .",
    "$C was discontinued because of $A , and the patient recovered within $TIME .",
    "$C can lead to $A , which may lead to treatment discontinuation .",
    # --- pharmacology and models
    "$C , {a selective|a potent|an oral|a reversible} inhibitor of $TG , {is approved|was developed|is being evaluated}"
    " for the treatment of $D .",
    "$C binds to $TG with high affinity [ ( Kd = $NM nM ) ] .",
    "$C is metabolised {mainly|predominantly} by $CYP , and {inhibitors|strong inhibitors} of this enzyme increase"
    " plasma $C concentrations .",
    "Genetic variants in $CYP {alter|influence} the {clearance|metabolism} of $C [ and may increase the risk of $A ] .",
    "$C ( $DOSE ) was administered {intraperitoneally|orally|by oral gavage} to $ANIMAL for $TIME .",
    "Administration of $C at $DOSE {attenuated|prevented|partially reversed} $TD induced by $T in $ANIMAL .",
    "$ANIMAL treated with $T developed $TD within $TIME .",
    "Mice lacking $G were {protected from|more susceptible to} $TD induced by $T .",
    "Mice lacking $G spontaneously developed $D by $NUM months of age .",
    "{Chronic|Long-term|Occupational} exposure to $X has been linked to $XD [ in several cohort studies ] .",
    "Urinary $X concentrations were {positively associated|associated} with the risk of $XD in $COHORT .",
    # --- molecular biology
    "$C inhibited the phosphorylation of $G in $CELL [ , as measured by $ASSAY ] .",
    "$C {upregulated|downregulated|suppressed|induced} $G and $G2 in $CELL in a dose-dependent manner .",
    "Knockdown of $G by siRNA {reduced|abolished|enhanced} the effect of $C on $CELLOUT in $CELL .",
    "$C {increased|decreased} the expression of $G through a mechanism {involving|that requires} $G2 .",
    "$C {reversed|prevented} the {increase|decrease} in $G expression induced by $T .",
    "Western blot analysis showed that $C increased $G protein levels [ in a time-dependent manner ] .",
    "We identified $N differentially expressed genes , including $G , $G2 and $G3 , in $CELL exposed to $C .",
    "$G interacts with $G2 [ and promotes its {degradation|nuclear translocation} ] [ , as shown by"
    " co-immunoprecipitation ] .",
    "$G and $G2 form a complex that regulates $PROC [ in $CT ] .",
    "$G is a {key|central|negative} regulator of $PROC [ , and its loss contributes to $D ] .",
    "Deletion of $G in $CT {impaired|enhanced|did not affect} $PROC in vivo .",
    "The $G promoter contains binding sites for $G2 [ and $G3 ] .",
    "Gene expression was quantified by $ASSAY and normalised to {<GAPDH|G>|<beta-actin|G>} .",
    "$LIG {binds to|activates} $REC [ and {modulates|regulates} $PROC ] [ in $CT ] .",
    "$LIG signalling through $REC is {impaired|enhanced} in $CT from patients with $D .",
    "The $SYM gene encodes $PROT , {a protein|an enzyme} {involved in|required for} $PROC .",
    "{Serum|Plasma} $G levels were {higher|lower} in patients with $MD than in {healthy|age-matched} controls [ $P ] .",
    "We measured serum $G {levels|concentrations} by $ASSAY in $N patients with $D and $N healthy controls .",
    "$G expression was {markedly|significantly} {increased|decreased} in {tissue|biopsy} samples from patients with $D .",
    "Expression of $G was {inversely|positively} correlated with $SURV in patients with $K [ ( n = $N ) ] .",
    "$G {amplification|overexpression} was detected in $PCT of $K samples by $ASSAY .",
    "Methylation of the $G promoter was more frequent in $K than in adjacent normal tissue .",
    "$G signalling is {aberrantly activated|frequently dysregulated} in $D [ , making it an attractive therapeutic"
    " target ] .",
    "{Elevated|Reduced} $G activity has been reported in $D , {but|although} its role in $PROC remains unclear .",
    "These findings suggest that $G may be a therapeutic target in $D .",
    "Resistance to $C was associated with {the $VAR mutation in|amplification of|loss of} $G .",
    "In a cohort of $N patients with $D , {baseline|pretreatment} $G {levels|expression} predicted"
    " {response|resistance} to $C .",
    # --- genetics
    "Mutations in $G were associated with [ early-onset ] $D [ in $COHORT ] .",
    "$GD is caused by {mutations|pathogenic variants|biallelic variants} in $GG .",
    "{A|The} {loss-of-function|missense|nonsense|frameshift|de novo} variant in $GG was identified in"
    " {two siblings|a consanguineous family|three unrelated patients|a child} with $GD .",
    "Whole-exome sequencing identified a {novel|homozygous|heterozygous} $VAR variant in $GG in a {family|patient}"
    " with $GD .",
    "Loss-of-function variants in $GG cause an autosomal {recessive|dominant} form of $GD .",
    "In $COHORT , carriers of the $SNP allele in $G had a higher risk of $D [ $CI ] .",
    "Polymorphisms in the $G gene were not associated with the response to $C in patients with $D .",
    "A genome-wide association study in $COHORT identified a {novel|new} locus near $G associated with $D .",
    # --- biomarkers and epidemiology
    "Measurement of $BM is {routinely|widely} used to {diagnose|monitor} $BD .",
    "Serum $BM was measured by $ASSAY before and $TIME after initiation of $CA .",
    "{Elevated|High} $BM levels {at admission|at baseline} predicted {mortality|poor outcome} in patients with $BD .",
    "The prevalence of $D was $PCT among adults in $COHORT .",
    "$D remains a leading cause of {death|disability|morbidity} worldwide , and {new|more effective} therapies"
    " are needed .",
    "Data were obtained from $COHORT , which included $N participants [ with $D ] .",
    "$DEFD was defined as $DEF .",
    "{Plasma|Serum} $E concentrations were {higher|lower} in patients with $D than in controls [ $P ] .",
    "{Dietary|Habitual} intake of $NUTR was {inversely|positively} associated with the risk of $D [ $CI ] .",
    "$E levels in $TISSUE were measured by $ASSAY [ after treatment with $C ] .",
    # --- methods / distractor-heavy sentences
    "Patients were recruited from the $CLINIC {of a university hospital|at a tertiary centre} between $YEAR"
    " and $YEAR .",
    "Stroke volume and cardiac output were measured by {echocardiography|cardiac MRI|right heart catheterisation}"
    " in patients with $D .",
    "The $SCALE score improved by $NUM points in the $C group [ compared with placebo ] .",
    "Patients who met the inclusion criteria were enrolled between $YEAR and $YEAR [ at $NUM centres ] .",
    "{Cytokine|Hormone} concentrations were measured with a commercial ELISA kit according to the manufacturer"
    " 's instructions .",
    "All analyses were performed with {SPSS version 25|R version 4.1|SAS 9.4} , and P values below 0.05 were"
    " considered significant .",
    "Blood pressure was measured after $NUM minutes of rest in the seated position .",
    "The validation set comprised $N patients from {an independent cohort|two external centres} .",
    "Sleep disruption may alter the circadian clock and {increase|worsen} the risk of $D .",
    "Disease duration was {longer|shorter} in patients with $D [ who carried the $SNP allele ] .",
    "$IMG findings did not differ between patients treated with $C and those treated with $C2 .",
]

# Slots whose value is a pair of linked entities: slot -> (pair table, index within the pair).
_PAIR_SLOTS = {"GD": ("gen", 0), "GG": ("gen", 1), "C_T": ("tgt", 0), "TG": ("tgt", 1), "LIG": ("lig", 0),
               "REC": ("lig", 1), "BM": ("bio", 0), "BD": ("bio", 1), "T": ("tox", 0), "TD": ("tox", 1),
               "X": ("env", 0), "XD": ("env", 1), "SYM": ("sym", 0), "PROT": ("sym", 1), "DEFD": ("def", 0),
               "DEF": ("def", 1)}
# Ordinary entity slots: slot -> (type, allowed kinds, group for "must differ").
_ENT_SLOTS = {
    "C": (_CHEM, "dc", "C"), "C2": (_CHEM, "dc", "C"), "CA": (_CHEM, "dcp", "C"), "PD": (_CHEM, "p", "C"),
    "E": (_CHEM, "e", "E"), "NUTR": (_CHEM, "n", "E"),
    "G": (_GENE, "g", "G"), "G2": (_GENE, "g", "G"), "G3": (_GENE, "g", "G"), "CYP": (_GENE, "y", "Y"),
    "D": (_DIS, "ckg", "D"), "D2": (_DIS, "ckg", "D"), "K": (_DIS, "k", "D"),
    "A": (_DIS, "a", "A"), "A2": (_DIS, "a", "A"),
}
_TOKEN_RE = re.compile(r"<[^<>]+\|[CDG]>|\[|\]|\{|\}|\||\$[A-Z][A-Z0-9_]*|[^\s\[\]{}|]+")


class _Ent:
    """A lexicon entry: a surface form with its entity type, therapeutic areas and kinds."""

    __slots__ = ("name", "toks", "etype", "areas", "kinds", "flags", "targets", "novel")

    def __init__(self, name, etype, areas, kinds, flags=(), targets=(), novel=False):
        self.name = name
        self.toks = tuple(name.split())
        self.etype = etype
        self.areas = tuple(areas)
        self.kinds = kinds
        self.flags = tuple(flags)
        self.targets = tuple(targets)
        self.novel = novel


def _parse_lexicon(block: str, etype: str) -> list[_Ent]:
    """Parse one lexicon block ("@areas" headers, then "name|kinds|flags|targets|+areas" lines)."""
    out, areas, seen = [], ("met",), set()
    for raw in block.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("@"):
            areas = tuple(line[1:].split(","))
            continue
        parts = line.split("|") + [""] * 5
        name, kinds, flags, targets, extra = (p.strip() for p in parts[:5])
        if etype != _CHEM:  # disease and gene lines have no targets column
            extra = extra or targets
            targets = ""
        if name in seen:
            raise ValueError(f"duplicate lexicon entry {name!r}")
        seen.add(name)
        ent_areas = areas + tuple(a for a in extra.split(",") if a and a not in areas)
        out.append(_Ent(name, etype, ent_areas, kinds or "g",
                        tuple(f for f in flags.split(",") if f), tuple(t for t in targets.split(";") if t)))
    return out


def _parse_pairs(block: str, sep: str = "|") -> list[list[str]]:
    return [[p.strip() for p in line.split(sep)] for line in block.strip().splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def _parse_template(text: str) -> list:
    """Parse the template mini-language into a nested node list."""
    toks = _TOKEN_RE.findall(text)
    pos = 0

    def seq(stop: tuple[str, ...]) -> list:
        nonlocal pos
        nodes = []
        while pos < len(toks) and toks[pos] not in stop:
            t = toks[pos]
            pos += 1
            if t == "[":
                inner = seq(("]",))
                pos += 1
                nodes.append(("opt", inner))
            elif t == "{":
                alts = [seq(("|", "}"))]
                while toks[pos] == "|":
                    pos += 1
                    alts.append(seq(("|", "}")))
                pos += 1
                nodes.append(("alt", alts))
            elif t.startswith("<") and t.endswith(">") and len(t) > 1:
                body, code = t[1:-1].rsplit("|", 1)
                nodes.append(("ent", tuple(body.split()), _TYPE_CODE[code]))
            elif t.startswith("$"):
                nodes.append(("slot", t[1:]))
            else:
                nodes.append(("w", t))
        return nodes

    nodes = seq(())
    if pos != len(toks):
        raise ValueError(f"unbalanced template: {text}")
    return nodes


def _template_slots(nodes: list, acc: list) -> list:
    for node in nodes:
        if node[0] == "slot":
            acc.append(node[1])
        elif node[0] == "opt":
            _template_slots(node[1], acc)
        elif node[0] == "alt":
            for alt in node[1]:
                _template_slots(alt, acc)
    return acc


def _inline_entities(text: str) -> list[tuple[str, str]]:
    return [(m.rsplit("|", 1)[0][1:], _TYPE_CODE[m[-2]]) for m in re.findall(r"<[^<>]+\|[CDG]>", text)]


# ----------------------------------------------------------------------------- novel names
_GENE_FAMILIES = ["TMEM", "ZNF", "CCDC", "LRRC", "ANKRD", "TRIM", "USP", "KLHL", "WDR", "PRDM", "RNF", "DNAJC",
                  "TBC1D", "ARHGAP", "ZBTB", "MFSD", "SPATA", "ADAMTS", "PPP1R", "RBM"]
_ONSETS = ["b", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "z", "c", "br", "tr", "pr", "cl", "k", "x"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o"]
_CHEM_SUFFIXES = [("tinib", "onc"), ("ciclib", "onc"), ("parib", "onc"), ("zumab", "onc"), ("umab", "imm"),
                  ("olol", "cv"), ("pril", "cv"), ("sartan", "cv"), ("xaban", "hem"), ("statin", "met"),
                  ("gliptin", "met"), ("gliflozin", "met"), ("glutide", "met"), ("previr", "inf"),
                  ("buvir", "inf"), ("floxacin", "inf"), ("conazole", "inf"), ("oxetine", "psy"),
                  ("peridone", "psy"), ("azepam", "psy"), ("lukast", "resp"), ("terol", "resp"),
                  ("vaptan", "ren"), ("citinib", "imm"), ("gepant", "neu"), ("triptan", "neu"), ("imod", "neu")]
_ORGAN_ADJ = [("hepatic", "met"), ("renal", "ren"), ("myocardial", "cv"), ("retinal", "neu"), ("cerebellar", "neu"),
              ("pulmonary", "resp"), ("cortical", "neu"), ("pancreatic", "met"), ("biliary", "met"),
              ("vascular", "cv"), ("epidermal", "imm"), ("muscular", "neu")]
_DIS_ADJ = ["congenital", "familial", "hereditary", "juvenile", "idiopathic", "progressive"]
_DIS_PATH = ["fibrosis", "dysplasia", "dystrophy", "atrophy", "degeneration", "hypoplasia", "calcification"]
_CANCER_SITES = ["ampullary", "appendiceal", "thymic", "adrenocortical", "urachal", "sinonasal", "tracheal",
                 "salivary duct", "vulvar", "biliary tract"]
_CANCER_HISTO = ["carcinoma", "adenocarcinoma", "sarcoma", "neuroendocrine tumour"]


def _novel_gene(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.55:
        return f"{rng.choice(_GENE_FAMILIES)}{rng.randint(2, 220)}"
    if r < 0.7:
        return f"SLC{rng.randint(1, 45)}A{rng.randint(1, 12)}"
    if r < 0.8:
        return f"FAM{rng.randint(20, 230)}{rng.choice('ABC')}"
    if r < 0.9:
        return f"C{rng.randint(1, 22)}orf{rng.randint(10, 180)}"
    return f"KIAA{rng.randint(100, 2026):04d}"


def _novel_chem(rng: random.Random) -> tuple[str, str]:
    suffix, area = rng.choice(_CHEM_SUFFIXES)
    stem = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.choice((1, 2, 2))))
    if rng.random() < 0.4:
        stem += rng.choice(["l", "n", "r", "s", "x"])
    if stem[-1] in "aeiou" and suffix[0] in "aeiou":
        stem = stem[:-1]
    return stem + suffix, area


def _novel_disease(rng: random.Random, gene_names: list[str]) -> tuple[str, tuple[str, ...], str]:
    r = rng.random()
    if r < 0.3:
        name = rng.choice(_SURNAMES) + rng.choice([" syndrome", " disease", " 's disease"])
        return name, (rng.choice(_AREAS),), "g"
    if r < 0.55:
        organ, area = rng.choice(_ORGAN_ADJ)
        return f"{rng.choice(_DIS_ADJ)} {organ} {rng.choice(_DIS_PATH)}", (area,), "c"
    if r < 0.7 and gene_names:
        return f"{rng.choice(gene_names)} deficiency", (rng.choice(_AREAS),), "g"
    if r < 0.85:
        return f"{rng.choice(_CANCER_SITES)} {rng.choice(_CANCER_HISTO)}", ("onc",), "k"
    if rng.random() < 0.5:
        return f"spinocerebellar ataxia type {rng.randint(1, 48)}", ("neu",), "g"
    return f"Charcot-Marie-Tooth disease type {rng.randint(1, 4)}{rng.choice('ABCDEF')}", ("neu",), "g"


# ----------------------------------------------------------------------------- NER world
class _NerWorld:
    """Lexicons, the seed-dependent train/validation/test partition of names, and per-split pools."""

    HOLDOUT = {"validation": 0.12, "test": 0.18}
    NOVEL = {"train": (90, 60, 50), "validation": (45, 30, 25), "test": (45, 30, 25)}

    def __init__(self, rng: random.Random):
        self.lex = {_CHEM: _parse_lexicon(_CHEM_LEX, _CHEM), _DIS: _parse_lexicon(_DIS_LEX, _DIS),
                    _GENE: _parse_lexicon(_GENE_LEX, _GENE)}
        self.by_name = {t: {e.name: e for e in ents} for t, ents in self.lex.items()}
        self.templates = [(_parse_template(t), _template_slots(_parse_template(t), [])) for t in _NER_TEMPLATES]
        core: set[tuple[str, str]] = set()
        for text in _NER_TEMPLATES + [d for _, d in _parse_pairs(_DEFINITIONS, "::")] + [
                p for group in _AREA_PHRASES.values() for phrases in group.values() for p in phrases]:
            core.update(_inline_entities(text))
        # Partition real names: core/ambiguous names always in train; others held out per split.
        self.split_of: dict[tuple[str, str], str] = {}
        for etype, ents in self.lex.items():
            by_area: dict[str, list[_Ent]] = {}
            for e in ents:
                if "amb" in e.flags or "core" in e.flags or (e.name, etype) in core or e.kinds == "y":
                    self.split_of[(e.name, etype)] = "train"
                else:
                    by_area.setdefault(e.areas[0], []).append(e)
            for area in _AREAS:
                group = by_area.get(area, [])
                rng.shuffle(group)
                n_test = round(len(group) * self.HOLDOUT["test"])
                n_val = round(len(group) * self.HOLDOUT["validation"])
                for i, e in enumerate(group):
                    self.split_of[(e.name, etype)] = "test" if i < n_test else (
                        "validation" if i < n_test + n_val else "train")
        # Novel, compositional names: disjoint per split.
        taken = {e.name.lower() for ents in self.lex.values() for e in ents}
        self.novel: dict[str, dict[str, list[_Ent]]] = {}
        for split, (n_gene, n_chem, n_dis) in self.NOVEL.items():
            genes, chems, dises = [], [], []
            while len(genes) < n_gene:
                name = _novel_gene(rng)
                if name.lower() not in taken:
                    taken.add(name.lower())
                    genes.append(_Ent(name, _GENE, rng.sample(_AREAS, 2), "g", novel=True))
            while len(chems) < n_chem:
                name, area = _novel_chem(rng)
                if name.lower() not in taken and len(name) > 6:
                    taken.add(name.lower())
                    chems.append(_Ent(name, _CHEM, (area,), "d", novel=True))
            while len(dises) < n_dis:
                name, areas, kind = _novel_disease(rng, [g.name for g in genes])
                if name.lower() not in taken:
                    taken.add(name.lower())
                    dises.append(_Ent(name, _DIS, areas, kind, novel=True))
            for c in chems:  # each novel drug gets a plausible target from genes this split may use
                pool = [g for g in genes if c.areas[0] in g.areas] or genes
                c.targets = (rng.choice(pool).name,)
            self.novel[split] = {_GENE: genes, _CHEM: chems, _DIS: dises}
        self.pairs_raw = {
            "gen": [(( d, _DIS), (g, _GENE)) for d, gs in _parse_pairs(_GENETIC_PAIRS) for g in gs.split(";")],
            "lig": [((c, _CHEM), (g, _GENE)) for c, g in _parse_pairs(_LIGAND_PAIRS)],
            "bio": [((g, _GENE), (d, _DIS)) for g, ds in _parse_pairs(_BIOMARKER_PAIRS) for d in ds.split(";")],
            "tox": [((c, _CHEM), (d, _DIS)) for c, _a, ds in _parse_pairs(_TOXIN_PAIRS) for d in ds.split(";")],
            "env": [((c, _CHEM), (d, _DIS)) for c, ds in _parse_pairs(_ENV_PAIRS) for d in ds.split(";")],
            "sym": [((s, _GENE), (p, _GENE)) for s, p in _parse_pairs(_SYMBOL_PAIRS)],
            "tgt": [((e.name, _CHEM), (t, _GENE)) for e in self.lex[_CHEM] for t in e.targets],
        }
        self.tox_area = {c: a for c, a, _ in _parse_pairs(_TOXIN_PAIRS)}
        for table in self.pairs_raw.values():
            for pair in table:
                for name, etype in pair:
                    if name not in self.by_name[etype]:
                        raise ValueError(f"pair member {name!r} ({etype}) missing from lexicon")
        self.definitions = _parse_pairs(_DEFINITIONS, "::")
        for d, _ in self.definitions:
            if d not in self.by_name[_DIS]:
                raise ValueError(f"defined disease {d!r} missing from lexicon")


class _SplitPools:
    """Entity pools for one split: names seen in train, names unseen in train, and linked pairs."""

    def __init__(self, world: _NerWorld, split: str):
        self.split = split
        self.seen: dict[str, list[_Ent]] = {}
        self.unseen: dict[str, list[_Ent]] = {}
        for etype, ents in world.lex.items():
            seen = [e for e in ents if world.split_of[(e.name, etype)] == "train"]
            held = [e for e in ents if world.split_of[(e.name, etype)] == split] if split != "train" else []
            self.seen[etype] = seen
            self.unseen[etype] = held + world.novel[split][etype]
        self.allowed = {(e.name, e.etype) for group in (self.seen, self.unseen) for ents in group.values()
                        for e in ents}
        self.ent = {(e.name, e.etype): e for group in (self.seen, self.unseen) for ents in group.values()
                    for e in ents}
        self.pairs: dict[str, list[tuple[_Ent, _Ent]]] = {}
        for key, table in world.pairs_raw.items():
            self.pairs[key] = [(self.ent[a], self.ent[b]) for a, b in table if a in self.allowed and b in self.allowed]
        novel = world.novel[split]
        self.pairs["tgt"] += [(c, self.ent[(c.targets[0], _GENE)]) for c in novel[_CHEM]]
        nov_genes = [g for g in novel[_GENE]]
        for d in novel[_DIS]:
            if d.kinds == "g" and nov_genes:
                gene = next((g for g in nov_genes if d.name.startswith(g.name + " ")), None)
                self.pairs["gen"].append((d, gene or nov_genes[hash_index(d.name, len(nov_genes))]))
        self.pairs["def"] = [(self.ent[(d, _DIS)], defn) for d, defn in world.definitions if (d, _DIS) in self.allowed]
        self.tox_area = world.tox_area
        self.seen_names = {(e.name, e.etype) for ents in self.seen.values() for e in ents}
        self._memo: dict[tuple, list[_Ent]] = {}

    def candidates(self, which: str, etype: str, kinds: str, area: str | None) -> list[_Ent]:
        """Entries of the seen/unseen pool of ``etype`` with a matching kind and area (weighted by repetition)."""
        key = (which, etype, kinds, area)
        got = self._memo.get(key)
        if got is None:
            pool = self.seen[etype] if which == "seen" else self.unseen[etype]
            got = []
            for e in pool:
                if any(k in kinds for k in e.kinds) and (area is None or area in e.areas):
                    got.extend([e] * (3 if "amb" in e.flags else 1))
            self._memo[key] = got
        return got


def hash_index(text: str, n: int) -> int:
    """A process-independent index in ``range(n)`` derived from ``text`` (Python's str hash is salted)."""
    return sum((i + 1) * ord(ch) for i, ch in enumerate(text)) % n


class _Retry(Exception):
    """Raised when a template cannot be filled for the chosen area; the caller picks again."""


class _NerSentence:
    """Renders one template into (token, tag) pairs for one split."""

    P_UNSEEN = 0.38  # validation/test: chance a slot is filled with a name never seen in train
    P_NOVEL_TRAIN = 0.12  # train: chance a slot uses a compositional (novel) name

    def __init__(self, rng: random.Random, pools: _SplitPools):
        self.rng = rng
        self.pools = pools
        self.area = ""
        self.bound: dict[str, tuple] = {}
        self.out: list[tuple[str, str]] = []

    # -- entity choice
    def pick(self, etype: str, kinds: str, area: str | None, exclude: tuple = ()) -> _Ent:
        rng, pools = self.rng, self.pools
        order = ["seen"]
        if pools.split != "train" and rng.random() < self.P_UNSEEN:
            order = ["unseen", "seen"]
        elif pools.split == "train" and rng.random() < self.P_NOVEL_TRAIN:
            order = ["unseen", "seen"]
        for which in order:
            cands = [e for e in pools.candidates(which, etype, kinds, area) if e.name not in exclude]
            if cands:
                return rng.choice(cands)
        raise _Retry

    def choose_pair(self, table: str) -> None:
        pairs = self.pools.pairs[table]
        if table == "tgt":
            pairs = [p for p in pairs if "p" not in p[0].kinds]
        if not pairs:
            raise _Retry
        if self.pools.split != "train" and self.rng.random() < self.P_UNSEEN:
            fresh = [p for p in pairs if any(isinstance(x, _Ent) and (x.name, x.etype) not in self.pools.seen_names
                                             for x in p)]
            pairs = fresh or pairs
        a, b = self.rng.choice(pairs)
        if table == "tox":
            self.area = self.pools.tox_area.get(a.name, a.areas[0])
        elif table == "env":
            self.area = b.areas[0]
        else:
            self.area = a.areas[0]
        names = [k for k, (t, _i) in _PAIR_SLOTS.items() if t == table]
        self.bound[names[0]] = a
        self.bound[names[1]] = b
        if table == "tgt":
            self.bound["C"] = a

    # -- rendering
    def emit_entity(self, toks: tuple[str, ...], etype: str) -> None:
        for i, tok in enumerate(toks):
            self.out.append((tok, ("B-" if i == 0 else "I-") + etype))

    def emit_words(self, text: str) -> None:
        for node in _parse_template(text):
            self.render([node])

    def render(self, nodes: list) -> None:
        rng = self.rng
        for node in nodes:
            kind = node[0]
            if kind == "w":
                self.out.append((node[1], "O"))
            elif kind == "ent":
                self.emit_entity(node[1], node[2])
            elif kind == "opt":
                if rng.random() < 0.5:
                    self.render(node[1])
            elif kind == "alt":
                self.render(rng.choice(node[1]))
            else:
                self.slot(node[1])

    def slot(self, name: str) -> None:
        rng = self.rng
        if name in _PAIR_SLOTS or name in _ENT_SLOTS or name == "MD":
            ent = self.entity_for(name)
            if isinstance(ent, str):  # a definition (text with inline entities)
                self.emit_words(ent)
                return
            etype = ent.etype
            if name == "LIG" and "p" in ent.kinds:  # protein hormones as ligands are proteins, not drugs
                etype = _GENE
            self.emit_entity(ent.toks, etype)
            return
        area = self.area
        if name in _AREA_PHRASES:
            options = _AREA_PHRASES[name].get(area)
            if not options:
                raise _Retry
            self.emit_words(rng.choice(options))
        elif name == "ASSAY":
            self.emit_words(rng.choice(_ASSAYS))
        elif name == "N":
            n = rng.choice([rng.randint(12, 480), rng.randint(500, 9800)])
            self.out.append((f"{n:,}", "O"))
        elif name == "NUM":
            self.out.append((str(rng.randint(2, 24)), "O"))
        elif name == "NM":
            self.out.append((f"{rng.choice([0.4, 1.2, 2.5, 3.8, 7, 12, 35, 80])}", "O"))
        elif name == "PCT":
            val = rng.choice([f"{rng.randint(2, 68)}", f"{rng.randint(1, 45)}.{rng.randint(1, 9)}"])
            self.emit_words(f"{val} %")
        elif name == "P":
            self.emit_words(rng.choice(["( P < 0.001 )", "( P < 0.01 )", f"( P = 0.0{rng.randint(1, 4)} )",
                                        "( P < 0.05 )"]))
        elif name == "CI":
            est = rng.uniform(0.45, 0.9) if rng.random() < 0.5 else rng.uniform(1.2, 2.9)
            lo, hi = est * rng.uniform(0.7, 0.9), est * rng.uniform(1.1, 1.35)
            measure = rng.choice(["hazard ratio", "odds ratio", "relative risk"])
            self.emit_words(f"( {measure} {est:.2f} ; 95 % CI {lo:.2f}-{hi:.2f} )")
        elif name == "DOSE":
            self.emit_words(f"{rng.choice([1, 5, 10, 20, 25, 50, 100, 200])} mg/kg")
        elif name == "DD":
            self.emit_words(f"{rng.choice([2.5, 5, 10, 20, 40, 50, 100, 200, 500])} mg "
                            f"{rng.choice(['daily', 'twice daily', 'once daily'])}")
        elif name == "PDOSE":
            self.emit_words(f"{rng.choice([20, 40, 50, 100, 150])} IU/kg "
                            f"{rng.choice(['three times weekly', 'once weekly', 'daily'])}")
        elif name == "TIME":
            unit, lo, hi = rng.choice([("weeks", 2, 52), ("months", 2, 24), ("days", 3, 28), ("years", 2, 5)])
            self.emit_words(f"{rng.randint(lo, hi)} {unit}")
        elif name == "YEAR":
            self.out.append((str(rng.randint(2004, 2022)), "O"))
        elif name == "AGESEX":
            self.emit_words(f"{rng.randint(19, 86)}-year-old {rng.choice(['woman', 'man'])}")
        elif name == "SNP":
            self.out.append((f"rs{rng.randint(100000, 99999999)}", "O"))
        elif name == "VAR":
            var = rng.choice([
                f"{rng.choice(_AA)}{rng.randint(12, 1400)}{rng.choice(_AA)}",
                rng.choice(["V600E", "G12D", "G12C", "L858R", "T790M", "E545K", "H1047R", "C282Y", "F508del",
                            "Val66Met", "R337H", "p.Arg213Trp"]),
                f"c.{rng.randint(40, 4000)}{rng.choice('ACGT')}>{rng.choice('ACGT')}"])
            self.out.append((var, "O"))
        else:
            raise ValueError(f"unknown slot ${name}")

    def entity_for(self, name: str):
        if name in self.bound:
            return self.bound[name]
        rng = self.rng
        if name == "MD":
            ent = self.entity_for("D")
            mods = _MODIFIERS.get(ent.kinds[0])
            if mods and rng.random() < 0.3:
                self.emit_words(rng.choice(mods))
            return ent
        if name in _PAIR_SLOTS:
            raise _Retry  # pairs are chosen before rendering
        etype, kinds, group = _ENT_SLOTS[name]
        exclude = tuple(e.name for e in self.bound.values() if isinstance(e, _Ent))
        if group == "A":  # adverse events: prefer ones plausible for the bound drug's area
            try:
                ent = self.pick(etype, kinds, self.area, exclude)
            except _Retry:
                ent = self.pick(etype, kinds, None, exclude)
        else:
            ent = self.pick(etype, kinds, None if group == "Y" else self.area, exclude)
        self.bound[name] = ent
        return ent


def _capitalise(tok: str) -> str:
    return tok[0].upper() + tok[1:] if re.fullmatch(r"[a-z][a-z\-']*", tok) else tok


def _ner_split(rng: random.Random, world: _NerWorld, split: str, size: int, used: set) -> dict[str, list]:
    pools = _SplitPools(world, split)
    tokens_out, tags_out = [], []
    n_templates = len(world.templates)
    # Cycle through templates in shuffled rounds so every template is used evenly in every split.
    order: list[int] = []
    while len(tokens_out) < size:
        if not order:
            order = list(range(n_templates))
            rng.shuffle(order)
        t_index = order.pop()
        nodes, slots = world.templates[t_index]
        pair_tables = sorted({_PAIR_SLOTS[s][0] for s in slots if s in _PAIR_SLOTS})
        for _attempt in range(30):
            sent = _NerSentence(rng, pools)
            try:
                if pair_tables:
                    sent.choose_pair(pair_tables[0])
                else:
                    sent.area = rng.choice(_AREAS)
                sent.render(nodes)
            except _Retry:
                continue
            toks = [t for t, _ in sent.out]
            if not 6 <= len(toks) <= 40:
                continue
            toks[0] = _capitalise(toks[0])
            key = " ".join(toks)
            if key in used:
                continue
            used.add(key)
            tokens_out.append(toks)
            tags_out.append([tag for _, tag in sent.out])
            break
    return {"tokens": tokens_out, "tags": tags_out}


def demo_ner(seed: int = 0) -> datasets.DatasetDict:
    """Generate the embedded biomedical NER demo corpus.

    Sentences are abstract-like biomedical prose, tokenised Penn/CoNLL style, tagged in IOB2 with the
    entity types ``Disease``, ``Chemical`` and ``Gene/Protein``. Entity types often depend on context
    (e.g. "insulin" administered vs. "insulin" gene expression; "ACE" vs. "ACE inhibitors"), part of each
    lexicon is held out of train, and validation/test also contain compositional names never seen in train.

    Args:
        seed: Seed for ``random.Random``; the same seed gives byte-identical output.

    Returns:
        A ``DatasetDict`` with splits ``train`` (2400), ``validation`` (300) and ``test`` (300), each with
        columns ``tokens`` (list of str) and ``tags`` (list of str).
    """
    rng = random.Random(seed)
    world = _NerWorld(rng)
    used: set[str] = set()
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "tags": datasets.Sequence(datasets.Value("string"))})
    return datasets.DatasetDict({
        split: datasets.Dataset.from_dict(_ner_split(rng, world, split, size, used), features=features)
        for split, size in _SPLITS
    })
